/*
 * long_wait.c - the share of the long lane that waiting requests may hold (see long_wait.h)
 */
#include "handlers/long_wait.h"

int
long_wait_take(struct app *app)
{
    int cap = app->cfg->long_workers > 1 ? app->cfg->long_workers - 1 : 1;

    if (atomic_fetch_add(&app->long_waits, 1) < cap)
        return 1;
    atomic_fetch_sub(&app->long_waits, 1);
    return 0;
}

void
long_wait_release(struct app *app)
{
    atomic_fetch_sub(&app->long_waits, 1);
}
