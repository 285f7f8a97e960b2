/*
 * auth_cost.c - what the token check adds to one request (bench/auth.sh)
 *
 * Times auth_keeper_check() (read lock, SHA-256 of the presented token, a
 * constant-time compare with every entry) for a Bearer and a Basic header
 * against a set of N tokens, on one thread and on two at once, and prints
 * nanoseconds per check. bench/merge.sh prints the end-to-end figures with
 * auth off and on; this isolates the part auth adds, which the noise of a
 * whole-request benchmark hides.
 *
 * usage: auth_cost [TOKENS] [CHECKS]      (defaults: 16 2000000)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/auth.h"

static struct auth_keeper *keeper;
static long checks;

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
run(void *arg)
{
    const char *header = arg;
    long i;

    for (i = 0; i < checks; i++)
        if (auth_keeper_check(keeper, header, AUTH_WRITE) != ERR_OK)
            abort();
    return NULL;
}

static double
timed(const char *header, int threads)
{
    pthread_t th[2];
    double t0 = now_s();
    int k;

    for (k = 0; k < threads; k++)
        pthread_create(&th[k], NULL, run, (void *)(uintptr_t)header);
    for (k = 0; k < threads; k++)
        pthread_join(th[k], NULL);
    return (now_s() - t0) * 1e9 / (double)checks; /* ns per check per thread */
}

int
main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 16;
    char *list = calloc((size_t)n, 64);
    char errbuf[ERRBUF_SIZE];
    struct auth *a = NULL;
    int i;

    checks = argc > 2 ? atol(argv[2]) : 2000000;
    for (i = 0; i < n; i++)
        sprintf(list + strlen(list), "%swrite:bench-token-%04d", i ? "," : "", i);
    if (auth_new(list, NULL, &a, errbuf, sizeof(errbuf))) {
        fprintf(stderr, "%s\n", errbuf);
        return 1;
    }
    keeper = auth_keeper_new(a);
    printf("tokens %d, checks %ld per thread\n", n, checks);
    printf("Bearer, 1 thread   %8.0f ns per check\n", timed("Bearer bench-token-0007", 1));
    printf("Bearer, 2 threads  %8.0f ns per check\n", timed("Bearer bench-token-0007", 2));
    /* "user:bench-token-0007" */
    printf("Basic,  1 thread   %8.0f ns per check\n",
           timed("Basic dXNlcjpiZW5jaC10b2tlbi0wMDA3", 1));
    auth_keeper_free(keeper);
    free(list);
    return 0;
}
