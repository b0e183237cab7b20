// Package seed makes realistic, deterministic chat histories for tests,
// benchmarks, `ferry history seed` and `ferry demo`: contacts, direct and
// group conversations, messages in several scripts with emoji, reply
// chains, edits, deletions, reactions and attachments of random
// (incompressible) bytes. It uses chatstore's public API only: the rows go
// into a history file through a chatstore.Writer, which the store adopts
// (when empty) or merges, and the media are installed like a transfer's.
package seed
