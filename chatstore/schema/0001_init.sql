-- Schema version 1 of a Ferry history database.
-- Every key is a 16-byte global ID (time-ordered: 6 bytes of milliseconds since
-- the Unix epoch, big endian, then 10 random bytes), so that two stores merge
-- with set operations and no ID is ever remapped. Times are Unix milliseconds.

CREATE TABLE contacts (
    id      BLOB PRIMARY KEY CHECK (length(id) = 16),
    name    TEXT NOT NULL,
    phone   TEXT NOT NULL,
    updated INTEGER NOT NULL -- last change; the newer version wins a merge
) WITHOUT ROWID;

CREATE TABLE conversations (
    id      BLOB PRIMARY KEY CHECK (length(id) = 16),
    kind    INTEGER NOT NULL CHECK (kind IN (1, 2)), -- 1 direct, 2 group
    title   TEXT NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL -- last change of title; the newer version wins a merge
) WITHOUT ROWID;

CREATE TABLE participants (
    conversation BLOB NOT NULL CHECK (length(conversation) = 16),
    contact      BLOB NOT NULL CHECK (length(contact) = 16),
    PRIMARY KEY (conversation, contact)
) WITHOUT ROWID;

CREATE TABLE messages (
    id           BLOB PRIMARY KEY CHECK (length(id) = 16),
    conversation BLOB NOT NULL CHECK (length(conversation) = 16),
    sender       BLOB NOT NULL CHECK (length(sender) = 16),
    sent         INTEGER NOT NULL,
    received     INTEGER NOT NULL,
    body         TEXT NOT NULL,
    reply_to     BLOB CHECK (reply_to IS NULL OR length(reply_to) = 16),
    edited       INTEGER NOT NULL DEFAULT 0, -- time of the last edit, 0 if never edited
    deleted      INTEGER NOT NULL DEFAULT 0  -- time of deletion, 0 if not deleted
) WITHOUT ROWID;

CREATE TABLE reactions (
    message BLOB NOT NULL CHECK (length(message) = 16),
    reactor BLOB NOT NULL CHECK (length(reactor) = 16),
    emoji   TEXT NOT NULL,
    PRIMARY KEY (message, reactor, emoji)
) WITHOUT ROWID;

CREATE TABLE attachments (
    id      BLOB PRIMARY KEY CHECK (length(id) = 16),
    message BLOB NOT NULL CHECK (length(message) = 16),
    hash    BLOB NOT NULL CHECK (length(hash) = 32), -- BLAKE3-256 of the bytes in media/
    size    INTEGER NOT NULL CHECK (size >= 0),
    mime    TEXT NOT NULL,
    name    TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX messages_by_conversation ON messages (conversation, sent);
CREATE INDEX attachments_by_message ON attachments (message);
CREATE INDEX attachments_by_hash ON attachments (hash, size);
