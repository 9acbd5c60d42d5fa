"""Idempotent replays answer byte for byte: the stored response is the text that was sent.

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-30

jsonb reorders keys and normalises spacing, so a client comparing a retry's bytes
with the first answer saw a difference. Text keeps the bytes.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE idempotency_record ALTER COLUMN response TYPE text USING response::text")


def downgrade() -> None:
    op.execute("ALTER TABLE idempotency_record ALTER COLUMN response TYPE jsonb USING response::jsonb")
