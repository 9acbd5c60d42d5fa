"""UPRNs as a council's file wrote them (leading zeros), so its Transparency export gives them back.

The register keeps ``property.uprn`` an integer (a UPRN is a number; leading
zeros are formatting). A file that writes "010001234567" leaves its form here,
beside the record, and the CSV export writes it while it still spells the
stored UPRN; after any edit to the UPRN the integer form is written instead.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE property_uprn_written (
            property_id uuid PRIMARY KEY REFERENCES property(id) ON DELETE CASCADE,
            uprn_text text NOT NULL CHECK (uprn_text ~ '^0[0-9]{1,14}$')
        );
        GRANT SELECT, INSERT, UPDATE, DELETE ON property_uprn_written TO estate_app;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS property_uprn_written")
