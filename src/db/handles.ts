import type postgres from 'postgres';

/*
 * The database handles every statement function takes, apart from client.ts
 * (which connects) so that the statement modules and the write connection
 * depend on these types without depending on what builds them.
 */

/** The pool: a statement sent on it takes any free connection. */
export type Db = postgres.Sql;
/** A transaction's own connection: functions that must run inside the caller's transaction take this. */
export type Tx = postgres.TransactionSql;
/**
 * Either handle: what every statement function (`<feature>/statements.ts`)
 * takes, so the caller decides whether the statement is part of a transaction.
 */
export type Sql = Db | Tx;
