"""The disposal pipeline: transitions, blockers with dates, interest windows, outcomes, webhooks.

The property's ``disposal_stage`` and ``disposal_blockers`` stay its current
state; these tables hold how it got there. Webhook events are written to an
outbox in the same transaction as the change that caused them, so a crash
between the two can lose neither; a worker delivers them afterwards.

Revision ID: 0005
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0007"
branch_labels = None
depends_on = None

# Copied from the vocabularies as they stand today (migrations never import application code).
STAGES = ("retained", "under_review", "declared_surplus", "marketed", "under_offer", "sold")
BLOCKERS = ("operational_use", "planning", "contamination", "title", "lease")
RAGS = ("red", "amber", "green")
BUYER_TYPES = ("public_body", "registered_provider", "private", "community")
OUTCOME_KINDS = ("sale", "withdrawal")
CLOSE_REASONS = ("ended", "marketed_early", "withdrawn")
EVENT_KINDS = ("surplus_declared", "interest_registered", "window_closed", "sold")
DELIVERY_STATES = ("pending", "delivered", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"CHECK ({column} IN ({quoted}))"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE disposal_transition (
            id bigserial PRIMARY KEY,
            property_id uuid NOT NULL REFERENCES property(id),
            owner text NOT NULL,
            from_stage text NOT NULL {_in("from_stage", STAGES)},
            to_stage text NOT NULL {_in("to_stage", STAGES)},
            effective_on date NOT NULL,
            note text CHECK (length(note) <= 2000),
            actor text NOT NULL DEFAULT estate_actor(),
            recorded_at timestamptz NOT NULL DEFAULT now(),
            -- The transaction that wrote it: joins the property's history row (and the feed) to it.
            txid xid8 NOT NULL DEFAULT pg_current_xact_id()
        );
        CREATE INDEX disposal_transition_property_idx ON disposal_transition (property_id, id);
        CREATE INDEX disposal_transition_txid_idx ON disposal_transition (txid);

        CREATE TABLE disposal_blocker (
            id bigserial PRIMARY KEY,
            property_id uuid NOT NULL REFERENCES property(id),
            blocker text NOT NULL {_in("blocker", BLOCKERS)},
            added_on date NOT NULL,
            added_by text NOT NULL DEFAULT estate_actor(),
            added_note text CHECK (length(added_note) <= 2000),
            cleared_on date,
            cleared_by text,
            cleared_note text CHECK (length(cleared_note) <= 2000),
            CHECK (cleared_on IS NULL OR cleared_on >= added_on)
        );
        -- A blocker is open at most once at a time.
        CREATE UNIQUE INDEX disposal_blocker_open_key ON disposal_blocker (property_id, blocker)
            WHERE cleared_on IS NULL;

        CREATE TABLE interest_window (
            id bigserial PRIMARY KEY,
            property_id uuid NOT NULL REFERENCES property(id),
            owner text NOT NULL,
            opened_on date NOT NULL,
            working_days integer NOT NULL CHECK (working_days >= 1),
            ends_on date NOT NULL CHECK (ends_on > opened_on),
            closed_on date,
            close_reason text {_in("close_reason", CLOSE_REASONS)},
            close_note text CHECK (length(close_note) <= 2000),
            opened_by bigint NOT NULL REFERENCES disposal_transition(id),
            CHECK ((closed_on IS NULL) = (close_reason IS NULL))
        );
        CREATE UNIQUE INDEX interest_window_open_key ON interest_window (property_id) WHERE closed_on IS NULL;
        CREATE INDEX interest_window_due_idx ON interest_window (ends_on) WHERE closed_on IS NULL;

        CREATE TABLE interest_expression (
            id bigserial PRIMARY KEY,
            window_id bigint NOT NULL REFERENCES interest_window(id),
            property_id uuid NOT NULL REFERENCES property(id),
            org text NOT NULL REFERENCES organisation(code),
            service text NOT NULL CHECK (length(service) BETWEEN 1 AND 500),
            floor_area_m2 double precision NOT NULL CHECK (floor_area_m2 > 0 AND floor_area_m2 < 'Infinity'),
            note text CHECK (length(note) <= 2000),
            actor text NOT NULL DEFAULT estate_actor(),
            registered_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT interest_expression_once UNIQUE (window_id, org)
        );
        CREATE INDEX interest_expression_property_idx ON interest_expression (property_id, id);

        CREATE TABLE disposal_outcome (
            id bigserial PRIMARY KEY,
            property_id uuid NOT NULL REFERENCES property(id),
            owner text NOT NULL,
            kind text NOT NULL {_in("kind", OUTCOME_KINDS)},
            completed_on date NOT NULL,
            gross_receipt_gbp bigint CHECK (gross_receipt_gbp >= 0),
            disposal_costs_gbp bigint CHECK (disposal_costs_gbp >= 0),
            buyer_type text {_in("buyer_type", BUYER_TYPES)},
            -- What the register believed when the outcome came: calibration reads these.
            rag_at_outcome text {_in("rag_at_outcome", RAGS)},
            stages_reached text[] NOT NULL,
            note text CHECK (length(note) <= 2000),
            transition_id bigint NOT NULL REFERENCES disposal_transition(id),
            actor text NOT NULL DEFAULT estate_actor(),
            recorded_at timestamptz NOT NULL DEFAULT now(),
            CHECK (kind <> 'sale' OR (gross_receipt_gbp IS NOT NULL AND disposal_costs_gbp IS NOT NULL
                                      AND buyer_type IS NOT NULL))
        );
        CREATE INDEX disposal_outcome_property_idx ON disposal_outcome (property_id, id);
        CREATE INDEX disposal_outcome_year_idx ON disposal_outcome (completed_on) WHERE kind = 'sale';

        CREATE TABLE webhook (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org text NOT NULL REFERENCES organisation(code),
            url text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
            secret text NOT NULL,
            events text[] NOT NULL CHECK (events <@ ARRAY[{", ".join(f"'{k}'" for k in EVENT_KINDS)}]::text[]),
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by text NOT NULL DEFAULT estate_actor(),
            disabled_at timestamptz
        );
        CREATE INDEX webhook_org_idx ON webhook (org) WHERE disabled_at IS NULL;

        -- The outbox: one row per event, written in the transaction of the change itself.
        CREATE TABLE webhook_event (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            kind text NOT NULL {_in("kind", EVENT_KINDS)},
            property_id uuid NOT NULL REFERENCES property(id),
            payload jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE webhook_delivery (
            id bigserial PRIMARY KEY,
            event_id uuid NOT NULL REFERENCES webhook_event(id),
            webhook_id uuid NOT NULL REFERENCES webhook(id),
            state text NOT NULL DEFAULT 'pending' {_in("state", DELIVERY_STATES)},
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_status_code integer,
            last_error text,
            delivered_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT webhook_delivery_once UNIQUE (event_id, webhook_id)
        );
        CREATE INDEX webhook_delivery_due_idx ON webhook_delivery (next_attempt_at) WHERE state = 'pending';
        -- The delivery log: every attempt, its answer and how long it took.
        CREATE TABLE webhook_attempt (
            id bigserial PRIMARY KEY,
            delivery_id bigint NOT NULL REFERENCES webhook_delivery(id),
            attempt integer NOT NULL,
            attempted_at timestamptz NOT NULL DEFAULT now(),
            status_code integer,
            error text,
            duration_ms integer NOT NULL
        );
        CREATE INDEX webhook_attempt_delivery_idx ON webhook_attempt (delivery_id, id);

        GRANT SELECT, INSERT ON disposal_transition TO estate_app;
        GRANT SELECT, INSERT, UPDATE ON disposal_blocker TO estate_app;
        GRANT SELECT, INSERT, UPDATE ON interest_window TO estate_app;
        GRANT SELECT, INSERT ON interest_expression TO estate_app;
        GRANT SELECT, INSERT ON disposal_outcome TO estate_app;
        GRANT SELECT, INSERT, UPDATE ON webhook TO estate_app;
        GRANT SELECT, INSERT ON webhook_event TO estate_app;
        GRANT SELECT, INSERT, UPDATE ON webhook_delivery TO estate_app;
        GRANT SELECT, INSERT ON webhook_attempt TO estate_app;
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO estate_app;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE IF EXISTS webhook_attempt, webhook_delivery, webhook_event, webhook,
          disposal_outcome, interest_expression, interest_window, disposal_blocker, disposal_transition;
        """
    )
