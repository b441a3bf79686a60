// The constructor below runs in every husk process before the Go runtime starts a thread.
#include <stdlib.h>
#include <sys/prctl.h>

#include "timerslack.h"

unsigned long husk_timerslack_orig;

static void __attribute__((constructor)) husk_timerslack_widen(void)
{
	// `husk init` (the sync socket is named) keeps the slack its parent forked it with: it
	// becomes the container's process.
	const char *init = getenv("_HUSK_SYNCFD");
	if (init != NULL && *init != '\0')
		return;
	// PR_GET_TIMERSLACK returns the slack as an int: a negative result is an error or a
	// slack over 2 s, which needs no widening either. Zero is a real-time thread's slack.
	int cur = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	if (cur <= 0 || (unsigned long)cur >= HUSK_TIMERSLACK_WIDE)
		return;
	if (prctl(PR_SET_TIMERSLACK, HUSK_TIMERSLACK_WIDE, 0, 0, 0) == 0)
		husk_timerslack_orig = (unsigned long)cur;
}
