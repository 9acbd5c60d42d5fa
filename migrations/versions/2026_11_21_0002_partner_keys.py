"""Partner API keys (hashes only) and idempotency records for batch writes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE api_key (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            prefix text NOT NULL UNIQUE,
            key_sha256 text NOT NULL,
            org text NOT NULL REFERENCES organisation(code),
            role text NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),
            label text,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz,
            revoked_at timestamptz,
            last_used_at timestamptz
        );
        CREATE TABLE idempotency_record (
            key_id uuid NOT NULL,
            idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
            request_sha256 text NOT NULL,
            status_code integer,
            response jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            completed_at timestamptz,
            PRIMARY KEY (key_id, idempotency_key)
        );
        GRANT SELECT, UPDATE (last_used_at) ON api_key TO estate_app;
        GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_record TO estate_app;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS idempotency_record; DROP TABLE IF EXISTS api_key;")
