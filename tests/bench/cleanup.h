/* Everything the benchmark makes outside its own memory (daemons, containers, directories),
 * recorded so that any way out of the program removes it: a normal end, exit() on a failure,
 * or SIGINT/SIGTERM/SIGHUP. */
#ifndef KBBENCH_CLEANUP_H
#define KBBENCH_CLEANUP_H

#include <stdbool.h>
#include <sys/types.h>

struct backend;

/* Block the signals in every thread to come, start the thread that waits for them, and run
 * cleanup_run() at exit. Call before any other thread starts. Returns 0 or a negative errno. */
int cleanup_init(struct backend *b);

/* Remove path (a directory tree) at the end. */
void cleanup_add_dir(const char *path);

/* Remove every container labelled kernelbox.daemon=instance at the end. */
void cleanup_add_instance(const char *instance);

/* Stop (SIGTERM, then wait; SIGKILL after timeout_s) the daemon with this pid at the end,
 * before its containers and directories are swept. */
void cleanup_add_pid(pid_t pid, int timeout_s);

/* Stop one recorded daemon now: SIGTERM, wait up to timeout_s for it to exit, then SIGKILL.
 * Returns its exit status as waitpid() gives it, or -1 when another thread reaped it. */
int cleanup_stop_pid(pid_t pid, int timeout_s);

/* Bracket every call that makes a container: enter returns false once cleaning up has begun
 * (the caller must not make it), and the sweep waits for the calls in flight to leave. */
bool cleanup_engine_enter(void);
void cleanup_engine_leave(void);

/* True once a signal asked the program to stop. */
bool cleanup_interrupted(void);

/* Stop the daemons, remove the containers and the directories. Runs once; later calls wait
 * for the first to finish. Returns 0, or -1 when something could not be removed (it says
 * what on stderr). */
int cleanup_run(void);

/* Check that nothing recorded is left: no container with a recorded label, no directory.
 * Returns the number of leftovers (each named on stderr). */
int cleanup_verify(void);

#endif
