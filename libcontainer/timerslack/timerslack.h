#ifndef HUSK_TIMERSLACK_H
#define HUSK_TIMERSLACK_H

// The timer slack husk's own threads run with, in nanoseconds.
#define HUSK_TIMERSLACK_WIDE 1000000UL

// The slack husk was started with, when the constructor widened it; else 0.
extern unsigned long husk_timerslack_orig;

#endif
