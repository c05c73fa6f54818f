/*
 * tools.h -- the subcommands of the `rewind` program.
 *
 * `rewind` is one program with subcommands (`rewind dump-log FILE...`); each
 * subcommand is one cmd_ entry point in its own file, and tools/rewind.c
 * dispatches to them through a table. This header is the folder's only
 * header: it names the entry points and the helpers they share.
 *
 * Contract of every cmd_ entry point: argv[0] is the subcommand's name and
 * argv[1..argc-1] its arguments; it prints what it finds on stdout and what
 * went wrong on stderr (each line saying what failed and what to try); it
 * returns the process exit status (one of enum cmd_exit) and never calls
 * exit() itself, so a test or another tool may call it in-process.
 *
 * Threads: the entry points are for the main thread of a command-line
 * program (@locality main); they keep no state between calls.
 */
#ifndef REWIND_TOOLS_H
#define REWIND_TOOLS_H

/* Exit statuses shared by all subcommands. */
enum cmd_exit {
	CMD_EXIT_OK = 0,         /* did what was asked; found nothing wrong */
	CMD_EXIT_ERROR = 1,      /* could not do it: bad usage, unreadable file */
	CMD_EXIT_PROBLEMS = 2,   /* did it, and what it inspected has problems
	                            (torn tail, bad CRC, index anomaly) */
};

/*
 * `rewind dump-log [--records] FILE...`: prints the batches of segment
 * .log files and the entries of .index / .timeindex files, flagging what is
 * wrong with them. Reads the files directly; never opens the log through
 * storage, so it is safe on a directory a broker is using.
 */
int cmd_dump_log(int argc, char **argv);

#endif /* REWIND_TOOLS_H */
