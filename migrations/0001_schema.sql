-- 0001_schema.sql -- tables, constraints and indexes of the chat store.
--
-- Every query path has an index: users by lower(username), rooms by
-- lower(name) and creation order, messages by (room_id, seq) and
-- (user_id, client_id), memberships both ways, sessions by hash and user,
-- presence by user.

CREATE TABLE users (
    id        text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    username  text NOT NULL CHECK (char_length(username) BETWEEN 1 AND 128),
    joined_at timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz
);
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

CREATE TABLE rooms (
    id          text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 256),
    description text CHECK (char_length(description) <= 10000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text REFERENCES users (id) ON DELETE SET NULL,
    last_seq    bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
);
CREATE UNIQUE INDEX rooms_name_lower_key ON rooms (lower(name));
CREATE INDEX rooms_created_at_idx ON rooms (created_at, id);
CREATE INDEX rooms_created_by_idx ON rooms (created_by);

CREATE TABLE messages (
    id          bigserial PRIMARY KEY,
    room_id     text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq         bigint NOT NULL CHECK (seq > 0),
    user_id     text REFERENCES users (id) ON DELETE SET NULL,
    username    text NOT NULL,
    content     text NOT NULL CHECK (char_length(content) BETWEEN 1 AND 100000),
    "timestamp" timestamptz NOT NULL DEFAULT now(),
    client_id   text CHECK (char_length(client_id) BETWEEN 1 AND 256),
    CONSTRAINT messages_room_seq_key UNIQUE (room_id, seq),
    CONSTRAINT messages_user_client_key UNIQUE (user_id, client_id)
);

CREATE TABLE user_rooms (
    user_id   text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id   text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, room_id)
);
CREATE INDEX user_rooms_room_idx ON user_rooms (room_id, user_id);

-- Only the SHA-256 of a session token is stored.
CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id, expires_at);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- A bridge process (chat-ws) announces itself and refreshes heartbeat_at;
-- connections of a bridge whose heartbeat is older than the presence TTL
-- no longer count as online, so a killed bridge cannot keep users online.
CREATE TABLE bridges (
    id           text PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE presence (
    bridge_id    text NOT NULL REFERENCES bridges (id) ON DELETE CASCADE,
    conn_id      text NOT NULL,
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    connected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bridge_id, conn_id)
);
CREATE INDEX presence_user_idx ON presence (user_id, bridge_id);

-- Token buckets for rate limits shared by every process. Losing them in a
-- crash only resets the limits, so they skip the WAL.
CREATE UNLOGGED TABLE rate_buckets (
    key        text PRIMARY KEY,
    tokens     double precision NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX rate_buckets_updated_idx ON rate_buckets (updated_at);

INSERT INTO rooms (id, name, description)
VALUES ('general', 'general', 'General discussion');
