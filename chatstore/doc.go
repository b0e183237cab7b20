// Package chatstore is the canonical chat history store of a Ferry home: a SQLite
// database (schema and migrations embedded as numbered .sql files) plus
// content-addressed media files, with a deterministic seed generator and an
// order-independent digest.
package chatstore
