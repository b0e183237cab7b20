// Package chatstore is the canonical chat history store of a Ferry home: a SQLite
// database (schema and migrations embedded as numbered .sql files) plus
// content-addressed media files, with a deterministic seed generator and an
// order-independent digest.
//
// # Layout
//
// A home directory holds history.db (SQLite, WAL mode, application_id "FRRY",
// PRAGMA user_version = schema version), media/<hh>/<64 hex> (the bytes of
// each attachment, named by their BLAKE3-256 hash) and .lock (held with an
// exclusive advisory lock by the one process that opened the home for
// writing). Read-only opens take no lock and never write the database; as
// SQLite's WAL reader protocol requires, they may create an empty -wal/-shm
// pair next to a database that has none.
//
// # Model
//
// Contacts, conversations (direct or group) with participants, messages
// (sender, sent and received times, body, reply-to, last edit time,
// deletion time), reactions and attachments (MIME type, size, BLAKE3 hash,
// original name). Every key is a 16-byte global ID whose first 6 bytes are a
// millisecond timestamp, so rows sort by time and two stores merge with set
// operations only: no ID is ever remapped.
//
// # Merge rules
//
// Merge attaches a snapshot file and runs one INSERT ... SELECT per table in
// a single transaction. Immutable columns keep the target's value. For a
// message, the version with the later edit time wins (equal times: the
// larger body), deletions are a union (the later deletion time wins);
// contacts and conversation titles take the later "updated" version;
// participants, reactions and attachments are unions. The rules are
// commutative and idempotent: merging A into B or B into A gives the same
// digest, and merging twice changes nothing.
//
// # Digest
//
// The digest is BLAKE3("ferry digest v1" || S), S the sum modulo 2^256 of
// BLAKE3-256 over a canonical, length-prefixed encoding of every row of every
// table (see digest.go). It does not depend on row order, and two stores have
// the same digest exactly when they hold the same history.
package chatstore
