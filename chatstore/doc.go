// Package chatstore is the canonical chat history store of a Ferry home: a SQLite
// database (schema and migrations embedded as numbered .sql files) plus
// content-addressed media files, with an order-independent digest; and the
// queries and search index through which the history is read. A Store is
// the transfer engine's History (package transfer: snapshot, merge, digest,
// media by hash), and the file functions (StatsOf, CheckFile,
// ListAttachments) read the history files that travel.
//
// # Layout
//
// A home directory holds history.db (SQLite, WAL mode, application_id "FRRY",
// PRAGMA user_version = schema version), media/<hh>/<64 hex> (the bytes of
// each attachment, named by their BLAKE3-256 hash), .lock (held with an
// exclusive advisory lock by the one process that opened the home for
// writing) and index.db, the search index (see below), which is not
// history. Read-only opens take no lock and never write the database; as
// SQLite's WAL reader protocol requires, they may create an empty -wal/-shm
// pair next to a database that has none; where they cannot (a read-only file
// system) and there is no -wal, nothing can be writing, and the database is
// opened immutable. Other parts of Ferry keep their
// own files there: identity.key (p2p), devices.json (pairing), vault.json
// and .staging/ (transfer), ferry.sock (the daemon).
//
// # What a home is
//
// Ferry writes only into a folder that is a Ferry home, or that becomes one
// because nothing is there. A folder is taken as a home when
//   - it does not exist yet (it is created, mode 0700; its parent must
//     exist), or it is empty;
//   - it holds history.db that is empty or an SQLite database with
//     application_id "FRRY" (or none yet: a new database whose first
//     transaction is still in its WAL; opening it then checks the rest);
//   - it holds identity.key, the device identity every networked command
//     writes first;
//   - or it holds nothing but names Ferry writes (IsHomeName): what an
//     interrupted first run leaves.
//
// Any other folder (a typo in the home's path, /etc, a Downloads folder) is
// refused with ErrNotAHome before anything is written into it, and a
// history.db of another program with ErrNotAStore. PrepareHome applies
// these rules; Open calls it, and so must a command that writes other files
// into a home.
//
// A home is its owner's only: the directory and every directory in it 0700,
// every file 0600 (history.db is created 0600 before SQLite opens it, and
// SQLite gives its -wal and -shm files the database's mode; snapshots and
// adopted files are 0600 too). A home that others can read (one made by an
// older Ferry, or opened up by hand) is repaired when it is opened by its
// owner: the home 0700, and history.db, its -wal/-shm, media/ and .staging/
// walked to 0700/0600. A home that belongs to another user is refused with
// ErrHomeExposed instead, and so is one whose repair fails (a read-only file
// system). identity.key is p2p's, which refuses an exposed key on its own.
//
// # Databases from outside
//
// A history database that comes from someone else (a sender's snapshot, an
// archive, a backup) is opened with trusted_schema=OFF and SQLite's
// defensive mode, like every database Ferry opens, and before anything else
// is read from it, its sqlite_schema must be exactly what the embedded
// migrations 1..N make for its version N (type, name, table and SQL of
// every table, index, trigger and view; see schema.go): a sender's own
// trigger, view, index, virtual table or changed CHECK is refused with
// ErrForeignSchema. A file to adopt or merge must also pass integrity_check,
// which proves its indexes hold exactly its tables' rows. Every schema
// object therefore comes from a numbered migration; one made any other way
// would make every history that holds it refused. A home's own database is
// checked the same way when it is opened, so a trigger that got into a home
// before this check existed can never fire.
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
// # Imported history (schema version 2)
//
// Package importers turns WhatsApp and Telegram exports into rows, written
// with a Writer into a standalone database that is then adopted or merged
// like a snapshot. Version 2 (schema/0002_imports.sql) added the columns
// that history needs; each defaults to "made by Ferry, nothing imported":
//
//   - source (contacts, conversations): the app the row came from,
//     "whatsapp" or "telegram"; "" for history Ferry made.
//   - native (contacts, conversations, messages): the app's own ID where
//     the export gives one (Telegram: from_id such as "user123", the chat
//     id, the message id as decimal text); "" otherwise (WhatsApp has none).
//   - self (contacts): 1 if the contact is the device's owner on that app
//     (ferry history import --me, or Telegram's full-account export). The
//     owner of seeded history is the contact with the fixed ID 00…01; a
//     reader treats both as "me".
//   - kind (messages): 0 a message from a person (its sender), 1 a system
//     event: the encryption notice, "Alice added Bob", a group created or
//     renamed, a call. An event's body is its text as the export gives it
//     (WhatsApp, in the exporting phone's language) or as the importer
//     wrote it from the export's fields (Telegram, in English); its sender
//     is the contact who did it when the export says so, else the all-zero
//     ID, which is no contact.
//   - omitted (messages): how many attachments the export named but did
//     not carry ("<Media omitted>", "File not included"); a later export
//     with the media adds attachment rows to the same message, so a reader
//     shows max(omitted - attachments, 0) files as missing.
//
// Imported conversations and contacts have IDs whose time bytes are zero
// and created = 0 (an export does not say when a chat began); their updated
// is the time of the latest message the export holds from them, so the
// newest export's title or name wins a merge.
//
// # Merge rules
//
// Merge attaches a snapshot file and runs one INSERT ... SELECT per table in
// a single transaction. Immutable columns keep the target's value. For a
// message, the version with the later edit time wins (equal times: the
// larger body), deletions are a union (the later deletion time wins);
// contacts and conversation titles take the later "updated" version;
// participants, reactions and attachments are unions. A contact's self
// mark, a message's omitted count and a conversation's kind (1 direct, 2
// group: an importer may see that a chat is a group only in a longer
// export) take the larger value; a message's reply_to, when one side has
// none (an export that lacked the message answered), is taken from the
// other; source, native and a message's kind are immutable. A snapshot of
// an older schema version merges as if it had been migrated first (its
// missing columns read as their defaults). The rules are commutative and
// idempotent: merging A into B or B into A gives the same digest, and
// merging twice changes nothing.
//
// # Digest
//
// The digest is BLAKE3("ferry digest v1" || S), S the sum modulo 2^256 of
// BLAKE3-256 over a canonical, length-prefixed encoding of every row of every
// table (see digest.go). It does not depend on row order, and two stores have
// the same digest exactly when they hold the same history. Columns added by
// later schema versions are hashed only when they differ from their
// default, so a history without imported data has the digest it had under
// schema version 1 (testdata/digest-kat.txt).
//
// # What a newer Ferry promises about older histories
//
// A history written by any earlier schema version stays readable: a home's
// history.db is migrated forward in place when it is opened, and a
// snapshot, archive or backup of an older version merges or is adopted as
// if it had been migrated first. Migrations are append-only: a released
// schema/NNNN_*.sql is never edited, since the schema check would then
// refuse every history it made. A history without imported data keeps its
// digest across versions (TestDigestKnownAnswer). testdata/kat holds a
// history database written by each schema version (history-vN.db, with its
// Stats in history-vN.db.json); TestKnownHistories opens each as a home,
// merges and adopts each as a snapshot, and finds the same Stats and
// digest. A new schema version adds its file with TestWriteKAT and leaves
// the old ones. A database of a version above this Ferry's is ErrTooNew.
//
// # Reading
//
// query.go holds the queries that every reader (the CLI, the HTML export,
// the browser app) shares: Conversations with their counts and last
// message, FindConversation (an ID, or a title or the unique start of one,
// without regard to case), and Messages, one page at a time by keyset
// pagination on (sent, id) over the index messages_by_conversation, so that
// a page costs the same at any depth of a history of millions. A deleted
// message is read with an empty body.
//
// # Search index
//
// HOME/index.db (mode 0600) is a full-text index of the message bodies:
// an FTS5 table (contentless, tokenizer and text normalisation in
// searchtext.go) with docs, numbering the indexed messages, pending, the
// messages to index again, and meta (see index.go). It is derived from
// history.db alone, is not part of the digest, and never travels: snapshots
// (VACUUM INTO of history.db), archives and backups do not hold it, and no
// index is ever taken from a peer. An index file that is not exactly what
// this version creates is deleted and rebuilt, never read; a search reads
// message rows from the history, never text from the index.
//
// How the index learns what is new. Message IDs are time-ordered but say
// nothing about when a row arrived (a merge brings old messages), an edit
// changes a body in place and a deletion sets a time, so no watermark over
// the rows can tell. Instead every change of history reports the rows it
// touched: Merge (and MergeWritten, which the importers and chatstore/seed
// use) brackets its transaction with trackChanges and done (change.go). The first counts a change under way
// in index.db, durably, before the history commits; it then installs TEMP
// triggers on the change's connection that record the ID of every message
// row inserted or updated. After the commit, done moves those IDs to
// pending (more than 100,000: it schedules a rebuild instead) and takes the
// change off the count, in one index transaction. Adopt, which replaces the
// history file, schedules a rebuild. Index.Update then indexes each pending
// message again from its current row (a deleted one loses its entry), or
// walks all messages in ID order for a rebuild, 2,000 per transaction, so
// an interrupted update keeps its work. The index is rebuilt from scratch
// when index.db is missing or damaged, when it describes another
// history.db file (device and inode, which Adopt's rename or a copy
// changes), and when it counts a change under way while no process holds
// the home's write lock: that writer stopped between its commit and done.
//
// When. Indexing costs about 15 µs per message here (a million: some
// 15 s), so it never runs inside a commit. Every search first brings the
// index up to date (lazily, so the first search after a migration into an
// empty home builds it, with progress shown); the commands that change
// history also catch it up at their end when it is behind by no more than
// 50,000 messages (under a second), so that the next search is instant.
package chatstore
