"""People: users with roles, server-side sessions, sign-in throttling, per-organisation sign-on.

Keys take the people's role names (reader → viewer, writer → editor), so one
vocabulary of roles covers both. History and the change feed already record
``estate.actor`` as given; a person's writes set it to their email, a key's
to its organisation and label, so no trigger changes here.

Revision ID: 0004
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0005"
branch_labels = None
depends_on = None

# Copied, not imported (migrations are frozen history): gis.access.Role at 2026-11-30.
ROLES = ("viewer", "editor", "org-admin", "admin")


def _roles(column: str) -> str:
    return f"CHECK ({column} IN ({', '.join(repr(r) for r in ROLES)}))"


def upgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE api_key DROP CONSTRAINT IF EXISTS api_key_role_check;
        UPDATE api_key SET role = CASE role WHEN 'reader' THEN 'viewer' WHEN 'writer' THEN 'editor' ELSE role END;
        ALTER TABLE api_key ADD CONSTRAINT api_key_role_check {_roles("role")};

        CREATE TABLE app_user (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            email text NOT NULL UNIQUE
                CHECK (email = lower(email) AND length(email) <= 254 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
            org text NOT NULL REFERENCES organisation(code),
            role text NOT NULL {_roles("role")},
            -- NULL for people who only sign in through their organisation's provider.
            password_hash text,
            must_change_password boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by text NOT NULL,
            password_changed_at timestamptz,
            last_sign_in_at timestamptz,
            disabled_at timestamptz,
            disabled_by text
        );
        CREATE INDEX app_user_org_idx ON app_user (org, email);

        -- Only a hash of the cookie's token is kept: a copy of this table signs nobody in.
        CREATE TABLE user_session (
            token_sha256 text PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
            csrf_token text NOT NULL,
            method text NOT NULL CHECK (method IN ('password', 'sso')),
            created_at timestamptz NOT NULL DEFAULT now(),
            last_seen_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            revoked_at timestamptz
        );
        CREATE INDEX user_session_user_idx ON user_session (user_id) WHERE revoked_at IS NULL;

        -- Failed sign-ins by subject ('email:<address>' or 'ip:<address>'). Kept for any
        -- address, known or not, so a lockout says nothing about who has an account.
        CREATE TABLE login_throttle (
            subject text PRIMARY KEY,
            failures integer NOT NULL DEFAULT 0,
            window_started_at timestamptz NOT NULL DEFAULT now(),
            locked_until timestamptz
        );

        CREATE TABLE organisation_sso (
            org text PRIMARY KEY REFERENCES organisation(code),
            issuer text NOT NULL CHECK (issuer ~ '^https?://[^[:space:]]+$'),
            client_id text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 500),
            client_secret text NOT NULL CHECK (length(client_secret) BETWEEN 1 AND 2000),
            default_role text NOT NULL DEFAULT 'viewer' CHECK (default_role IN ('viewer', 'editor')),
            enabled boolean NOT NULL DEFAULT true,
            updated_at timestamptz NOT NULL DEFAULT now(),
            updated_by text NOT NULL
        );
        -- Which body an email domain belongs to: one body per domain.
        CREATE TABLE organisation_email_domain (
            domain text PRIMARY KEY CHECK (domain = lower(domain) AND domain ~ '^[a-z0-9-]+(\\.[a-z0-9-]+)+$'),
            org text NOT NULL REFERENCES organisation(code)
        );
        CREATE INDEX organisation_email_domain_org_idx ON organisation_email_domain (org);

        -- A sign-on in flight: state, nonce and PKCE verifier stay on the server; used once.
        CREATE TABLE sso_login (
            state text PRIMARY KEY,
            org text NOT NULL REFERENCES organisation(code),
            nonce text NOT NULL,
            code_verifier text NOT NULL,
            browser_sha256 text NOT NULL,
            redirect_uri text NOT NULL,
            next_path text NOT NULL DEFAULT '/map',
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL
        );

        GRANT INSERT, UPDATE (revoked_at, last_used_at) ON api_key TO estate_app;
        GRANT SELECT, INSERT, UPDATE ON app_user TO estate_app;
        GRANT SELECT, INSERT, UPDATE, DELETE ON user_session TO estate_app;
        GRANT SELECT, INSERT, UPDATE, DELETE ON login_throttle TO estate_app;
        GRANT SELECT, INSERT, UPDATE ON organisation_sso TO estate_app;
        GRANT SELECT, INSERT, DELETE ON organisation_email_domain TO estate_app;
        GRANT SELECT, INSERT, DELETE ON sso_login TO estate_app;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE IF EXISTS sso_login, organisation_email_domain, organisation_sso,
          login_throttle, user_session, app_user;
        ALTER TABLE api_key DROP CONSTRAINT IF EXISTS api_key_role_check;
        UPDATE api_key SET role = CASE role WHEN 'viewer' THEN 'reader' WHEN 'editor' THEN 'writer'
                                            WHEN 'org-admin' THEN 'writer' ELSE role END;
        ALTER TABLE api_key ADD CONSTRAINT api_key_role_check CHECK (role IN ('reader', 'writer', 'admin'));
        """
    )
