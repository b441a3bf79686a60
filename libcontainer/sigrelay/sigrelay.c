// The C half of package sigrelay: a signal handler that writes the signal's number to a pipe
// (the self-pipe pattern). It is async-signal-safe: one write(2) on a non-blocking pipe,
// errno saved and restored.

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "sigrelay.h"

static int relay_fd = -1;

static void relay_handler(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	// A full pipe drops the signal: the reader is far behind, and blocking here would hang
	// the thread the signal interrupted.
	if (write(relay_fd, &b, 1) < 0) {
		// nothing to do
	}
	errno = saved;
}

int husk_sigrelay_install(int fd, const int *sigs, int n)
{
	struct sigaction sa;
	int i;

	relay_fd = fd;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = relay_handler;
	// SA_ONSTACK: the handler may interrupt a goroutine on its small stack; the Go runtime
	// gives every thread an alternate signal stack for its own handlers, and ours uses it too.
	sa.sa_flags = SA_ONSTACK | SA_RESTART;
	sigfillset(&sa.sa_mask);
	for (i = 0; i < n; i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return -errno;
	return 0;
}
