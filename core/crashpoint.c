/*
 * crashpoint.c - named points where a test makes the process die at once
 *
 * The armed name is the one piece of process-wide state here, written once
 * before any thread starts and only read afterwards.
 */
#include "core/crashpoint.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

static char armed[64];

void
crashpoint_arm(const char *name)
{
    snprintf(armed, sizeof(armed), "%s", name ? name : "");
}

void
crashpoint(const char *name)
{
    if (!armed[0] || strcmp(armed, name) != 0)
        return;
    log_json(LOG_WARN, "crash point reached, killing the process",
             json_pack("{s:s}", "crash_point", name));
    kill(getpid(), SIGKILL);
    _exit(137); /* not reached */
}
