/*
 * locks.h - advisory lock keys shared by every ingestd process on a database
 */
#ifndef INGESTD_LOCKS_H
#define INGESTD_LOCKS_H

/* Held (transaction-scoped) by a merge and by PUT /api/v1/repos.csv. */
#define LOCK_EFFECTIVE_SQL "SELECT pg_advisory_xact_lock(7400000002)"

/* SQL expression formatting a timestamptz column as 2026-11-21T10:15:30.123Z */
#define SQL_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#endif
