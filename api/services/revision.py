"""The revision of the register that process-local caches of register-wide answers are keyed by."""

# The database is part of the key (one process may serve, or test, several registers); the change
# feed's last transaction moves with every committed write.
REGISTER_REVISION_SQL = (
    "concat_ws(':', current_database(), inet_server_addr(), inet_server_port(), "
    "(SELECT coalesce(max(seq), 0) FROM feed_tx))"
)
