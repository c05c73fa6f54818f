/*
 * rewind.c -- the `rewind` command-line program: a table of subcommands.
 *
 * `rewind SUBCOMMAND [ARGS...]` looks SUBCOMMAND up in cmd_table and hands
 * it the rest of the command line (argv[0] becomes the subcommand's name).
 * Every subcommand answers `--help`; `rewind --help` and `rewind help` list
 * them. Adding a subcommand is one row here plus its cmd_ file: nothing else
 * in this file knows what the subcommands do.
 */
#include <stdio.h>
#include <string.h>

#include "tools/tools.h"

typedef int cmd_fn(int argc, char **argv);

struct cmd_entry {
	const char *name;
	cmd_fn *fn;
	const char *summary;
};

static const struct cmd_entry cmd_table[] = {
	{ "dump-log", cmd_dump_log,
	  "print the batches and records of segment .log files and the entries of .index/.timeindex files" },
	{ "consume", cmd_consume,
	  "print a topic's records (from an offset, a time or a group's commits), kcat-style format" },
	{ "produce", cmd_produce,
	  "send lines of stdin or a file as records (keys, headers, codec), like kafka-console-producer" },
	{ "perf", cmd_perf,
	  "throughput and latency: perf produce (and the other perf modes)" },
	{ "groups", cmd_groups,
	  "consumer groups: list, describe (lag), reset-offsets (replay), delete, delete-offsets" },
	{ "topics", cmd_topics,
	  "topics: create, list, describe (partitions, offsets, sizes, configs), alter, delete" },
	{ "gen-events", cmd_gen_events,
	  "write a deterministic stream of play/pause/rebuffer events (KEY<TAB>JSON lines)" },
	{ "windows", cmd_windows,
	  "event-time windowed aggregation into a compacted topic; verify compares two outputs" },
};

#define CMD_COUNT (sizeof cmd_table / sizeof cmd_table[0])

static void rewind_usage(FILE *out)
{
	fprintf(out,
		"usage: rewind SUBCOMMAND [ARGS...]\n"
		"\n"
		"rewind is an append-only log broker that speaks the Kafka protocol;\n"
		"this program holds its command-line tools.\n"
		"\n"
		"subcommands:\n");
	for (size_t i = 0; i < CMD_COUNT; i++)
		fprintf(out, "  %-10s %s\n", cmd_table[i].name, cmd_table[i].summary);
	fprintf(out,
		"\n"
		"Run 'rewind SUBCOMMAND --help' for a subcommand's arguments.\n");
}

static const struct cmd_entry *rewind_find(const char *name)
{
	for (size_t i = 0; i < CMD_COUNT; i++)
		if (strcmp(cmd_table[i].name, name) == 0)
			return &cmd_table[i];
	return NULL;
}

static void rewind_list_names(FILE *out)
{
	for (size_t i = 0; i < CMD_COUNT; i++)
		fprintf(out, "%s%s", i ? ", " : "", cmd_table[i].name);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		rewind_usage(stderr);
		return CMD_EXIT_ERROR;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
		rewind_usage(stdout);
		return CMD_EXIT_OK;
	}
	if (strcmp(name, "help") == 0) {
		if (argc < 3) {
			rewind_usage(stdout);
			return CMD_EXIT_OK;
		}
		/* `rewind help X` is `rewind X --help`. */
		const struct cmd_entry *c = rewind_find(argv[2]);
		if (c == NULL) {
			fprintf(stderr, "rewind: no subcommand '%s' (known: ", argv[2]);
			rewind_list_names(stderr);
			fprintf(stderr, "); run 'rewind --help' for the list\n");
			return CMD_EXIT_ERROR;
		}
		char *help_argv[] = { (char *)c->name, (char *)"--help", NULL };
		return c->fn(2, help_argv);
	}

	const struct cmd_entry *c = rewind_find(name);
	if (c == NULL) {
		fprintf(stderr, "rewind: unknown subcommand '%s' (known: ", name);
		rewind_list_names(stderr);
		fprintf(stderr, "); run 'rewind --help' for what each does\n");
		return CMD_EXIT_ERROR;
	}
	return c->fn(argc - 1, argv + 1);
}
