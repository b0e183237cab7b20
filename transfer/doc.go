// Package transfer moves a chat history from one store to another: it takes
// a consistent snapshot of the source, describes it in a manifest of
// hash-checked chunks, stages the chunks a target receives (resuming where
// an interrupted transfer stopped), and commits them atomically, checked by
// the digest.
//
// # One pull path
//
// Every way a history arrives goes through Pull: a ChunkSource plans
// fetches of what the Receiver lacks (PeerSource: a sender over
// /ferry/transfer/2, one chunk per request on parallel streams; Import's
// archive: one pass over its frames in order; package backup's vault: a
// pack of many pieces per request; ReadSource: a local snapshot), Pull
// runs them with errgroup, the Receiver verifies and stages every
// delivery, Commit checks the digest and installs, and after a failure one
// rule, Discard, keeps staging for a resume or removes it. Export and
// Serve are the sending sides.
//
// The engine works on History (history.go), which *chatstore.Store
// implements and an app's own store may: its doc says what an
// implementation must guarantee.
//
// Files: history.go, source.go (the snapshot), manifest.go, receiver.go (staging and
// resume), commit.go, pull.go (ChunkSource, Pull, Discard), archive.go
// (Export and Import), protocol.go, serve.go and peer.go (the transfer
// protocol), early.go (early media), treehash.go, errors.go.
//
// # Manifest (format version 1)
//
// All integers are unsigned LEB128 varints in their shortest form; hashes
// are 32-byte BLAKE3-256. The parser is strict: non-canonical varints,
// out-of-range values, unsorted media, trailing bytes or a wrong root are
// ErrCorrupt; a higher version is ErrNewerVersion.
//
//	"FRYM"                          magic
//	version                         1
//	snapshot ID                     16 bytes derived from the content, so a
//	                                restarted sender offers the same ID
//	chunk size                      4 KiB..16 MiB (Ferry writes 4 MiB)
//	conversations, messages,
//	attachments, media bytes        the source's Stats for this snapshot
//	len, digest                     lowercase hex, at most 128 bytes
//	db size                         raw size of the database snapshot
//	ceil(db size/chunk size) ×      database chunks:
//	    hash, stored size           BLAKE3 of the zstd-compressed bytes
//	media count
//	media count ×                   ascending hash order, no duplicates:
//	    hash, size                  BLAKE3 of the whole file (attachment hash)
//	    [ceil(size/chunk size) ×    only when the file spans several chunks:
//	        chunk hash]             BLAKE3 of each raw chunk
//	root                            BLAKE3 of every byte above
//
// Chunks are numbered 0..N-1: the database chunks in file order, then each
// media file's chunks. Every chunk but the last of its part holds exactly
// chunk size raw bytes. Database chunks are each compressed on their own
// (zstd, fastest level; the hash covers the compressed bytes, the raw size
// is implied), so any chunk can be fetched, verified and written alone.
// Media chunks are raw; a one-chunk file's chunk hash is its file hash, so
// only larger files list chunk hashes. An empty media file has no chunks.
// A manifest must fit in one archive frame (32 MiB: a few hundred thousand
// media files).
//
// What a newer reader promises: every later Ferry parses manifest version 1
// (an archive on a disk is read years after it was written). A new layout
// takes version 2, which ParseManifest reads beside 1; a reader older than a
// manifest says ErrNewerVersion. The bytes an earlier Ferry wrote,
// testdata/kat/manifest-v1.bin, must parse and marshal back to the same
// bytes (TestKnownManifest).
//
// # Archive
//
// Export writes an internal/archive stream of 1+N sealed frames: frame 0 the
// manifest, frame i+1 chunk i. The archive authenticates order and count;
// the manifest's hashes authenticate each chunk again on the way in.
//
// # Staging and commit protocol (target side)
//
// A Receiver stages into home/.staging/<snapshot ID hex>/:
//
//	manifest     the manifest, written (fsync, rename) before anything else
//	snapshot.db  the database, each chunk decompressed to its raw offset
//	media/<hex>  each media file, each chunk at its offset
//	journal      40-byte records: chunk index, BLAKE3 of the raw bytes
//	             written (for a full chunk of a multi-chunk media file, its
//	             BLAKE3 chaining value instead), CRC-32C; appended after the
//	             chunk's bytes
//
// Put verifies a chunk's hash before writing anything (ErrChunkCorrupt),
// writes it, then appends its journal record. A new Receiver for the same
// manifest reads the journal, drops a torn last record, and re-hashes the
// staged bytes of every listed chunk; only those that match count as
// received. Records are not fsynced one by one: after a process crash the
// page cache still holds them; after a power loss, chunks whose bytes did
// not reach the disk fail the re-hash and are fetched again. Nothing
// unverified is ever committed. Media the target store already holds count
// as received and are never fetched (a second migration moves only new
// data). A staging directory for a different manifest is replaced.
//
// What a newer reader promises about an older staging directory (a cut-off
// migration, then a Ferry upgrade, then the re-run): it resumes from journal
// format 1 as described here (TestKnownStaging resumes from
// testdata/kat/staging-v1, left by an earlier Ferry, and fetches only what
// it lacks). A different record layout goes into a file of another name, so
// a newer Ferry reads an old journal as format 1 or ignores it; either way a
// listed chunk is re-hashed before it counts, so a staging directory it
// cannot use costs a refetch, never a wrong commit.
//
// Commit then:
//
//  1. checks every chunk is staged (else ErrIncomplete, staging kept);
//  2. checks the staged database's schema, since the digest covers rows
//     only: exactly the one Ferry's migrations make for its version, or
//     ErrForeignSchema (a sender's own trigger, view, index or table never
//     reaches the target; staging removed, nothing installed);
//  3. computes the staged database's Stats and requires them equal to the
//     manifest's (counts and digest: the end-to-end check; else
//     ErrDigestMismatch, staging removed); at the same time
//  4. installs the media files the store lacks, each fsynced and renamed
//     into media/; a file larger than a chunk is first checked against its
//     hash: BLAKE3 is a tree, and with a power-of-two chunk size each full
//     chunk is a subtree whose chaining value Put computed, so only the
//     last chunk is read back (other chunk sizes: the whole file is);
//  5. if the store is empty, Adopt: the staged database replaces the empty
//     one by an atomic rename; otherwise Merge: one SQLite transaction of
//     set operations adds what is missing, then CheckContains. Both check
//     the schema again and run integrity_check first (an adopted file's
//     indexes become the target's);
//  6. reads the target's final Stats (for Adopt, they are the staged
//     database's, already computed) and removes the staging directory.
//
// A crash before step 5 commits leaves the target's history as it was:
// the only visible trace is media files from step 4 that no message refers
// to yet (content-addressed and harmless; the next attempt finds them
// present). A crash after it leaves the target fully migrated, plus a
// staging directory whose next Commit merges nothing new. Merging the same
// snapshot twice changes nothing.
//
// # Transfer protocol (/ferry/transfer/2)
//
// The receiver drives: on one stream it asks for the manifest
// (GetManifest → Manifest), then on several streams in parallel it asks
// for each chunk it lacks (GetChunk i → Chunk i data), verifying every
// chunk against the manifest before staging it, and after it has committed
// and checked the digest it sends Done with its Report and waits for Ack.
// Who is served is the sender's decision (the daemon's: only the device
// the send is for); a refused stream gets an Error answer at once
// (Refuse). Each message is one internal/wire frame, uvarint(len+1) ||
// type || body:
//
//	receiver → sender
//	  GetManifest  0x01  empty
//	  GetChunk     0x02  uvarint(index)
//	  Done         0x03  JSON Report of the committed migration
//	  GetMedia     0x04  empty                          (version 2)
//	  GetPiece     0x05  hash || uvarint(offset)        (version 2)
//	sender → receiver
//	  Manifest     0x81  the manifest's encoding (above)
//	  Chunk        0x82  uvarint(index) || the chunk's stored bytes
//	  Ack          0x83  empty
//	  Media        0x84  uvarint(n) || n × (hash || uvarint(size)),
//	                     hashes strictly ascending      (version 2)
//	  Piece        0x85  the piece's bytes              (version 2)
//	  Error        0xff  code (1 byte) || UTF-8 message
//
// Codes: 1 internal (the receiver may retry), 2 not trusted (not a paired
// device), 3 no session (nothing is being sent), 4 bad request, 5 not the
// receiver (paired, but the send is for another device). A receiver sends
// one request and reads its answer before the next on a stream; a sender
// answers in order. An unknown type is a protocol error (both sides are
// the same version by the protocol ID): a later version gets a new ID.
//
// Early media (version 2, early.go). The manifest exists only once the
// sender's snapshot is made, which takes seconds on a large history; a
// sender answers GetManifest and GetChunk when it is ready, but GetMedia
// and GetPiece at once: Media lists the files its history refers to when
// the send started (EarlyMedia), and Piece is the PieceSize (4 MiB) bytes
// of a listed file at a multiple of PieceSize (the last piece shorter).
// Anything else is a bad request. A receiver that has nothing to ask its
// user first (no confirmation, or given in an earlier attempt) fetches the
// files it lacks (Prefetch) while it waits for the manifest, into
// home/.staging/early/ (<hex> a file checked whole against its hash,
// <hex>.part one on its way); a file that is not what it is named stops
// the prefetch and is removed. When the manifest comes, the files it lists
// go to its Receiver (UseEarly: held, never fetched, installed by Commit),
// and the others are removed. An interrupted receive leaves them for the
// next, which checks each again (a part's whole pieces are hashed again
// and only the rest fetched; the whole file must still have its hash).
// Nothing early reaches the history before a commit, and a sender can
// make a receiver fetch no more than the media it lists.
//
// Versions: a sender serves both /ferry/transfer/2 and /ferry/transfer/1
// (the same streams without GetMedia and GetPiece); a receiver asks for 2
// first and falls back to 1 for an older sender, without early media.
//
// # Errors
//
// errors.go lists the sentinels (ErrWrongKey, ErrTruncated, ErrNoSpace, ...),
// each a sentence a user can act on. Import documents which failures keep
// staging for a resume and which remove it.
package transfer
