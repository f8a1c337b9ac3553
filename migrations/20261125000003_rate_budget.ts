import type { Knex } from 'knex';

/** Slots of the shared QBench request budget (see ingest/pg-rate-budget.ts). Unlogged: losing them in a crash only forgets recent requests. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE UNLOGGED TABLE qbsync.rate_budget_slots (
      budget   text NOT NULL,
      taken_at timestamptz NOT NULL
    );
    CREATE INDEX rate_budget_slots_idx ON qbsync.rate_budget_slots (budget, taken_at);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS qbsync.rate_budget_slots');
}
