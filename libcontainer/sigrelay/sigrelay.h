#ifndef HUSK_SIGRELAY_H
#define HUSK_SIGRELAY_H

// husk_sigrelay_install makes each of the n signals in sigs write its number to fd, a
// non-blocking pipe. It returns 0, or -errno of the first sigaction(2) that failed.
int husk_sigrelay_install(int fd, const int *sigs, int n);

#endif
