/*
 * table.c -- aligned text tables for the tools' human output (rewind
 * groups, rewind topics): rows of strings, each column as wide as its
 * widest cell, two spaces between columns, the last column not padded.
 *
 * Invariant: a table owns a copy of every cell; a cell given as NULL is
 * shown as "-". A failed allocation sets `oom` and drops the row, so a
 * caller checks once after filling the table.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tools.h"

void cmd_table_init(struct cmd_table *t, size_t ncols)
{
	memset(t, 0, sizeof *t);
	t->ncols = ncols < CMD_TABLE_MAX_COLS ? ncols : CMD_TABLE_MAX_COLS;
}

void cmd_table_row(struct cmd_table *t, ...)
{
	va_list ap;
	if (t->nrows == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 16;
		char **c = realloc(t->cells, nc * t->ncols * sizeof *c);
		if (c == NULL) {
			t->oom = true;
			return;
		}
		t->cells = c;
		t->cap = nc;
	}
	va_start(ap, t);
	for (size_t i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);
		char *d = strdup(s ? s : "-");
		if (d == NULL)
			t->oom = true;
		t->cells[t->nrows * t->ncols + i] = d;
	}
	va_end(ap);
	t->nrows++;
}

void cmd_table_print(const struct cmd_table *t, FILE *out)
{
	size_t w[CMD_TABLE_MAX_COLS] = { 0 };
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			size_t l = s ? strlen(s) : 0;
			if (l > w[c])
				w[c] = l;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			if (c + 1 == t->ncols)
				fprintf(out, "%s\n", s ? s : "");
			else
				fprintf(out, "%-*s  ", (int)w[c], s ? s : "");
		}
	}
}

void cmd_table_free(struct cmd_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof *t);
}
