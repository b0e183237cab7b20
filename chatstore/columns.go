package chatstore

import (
	"context"
	"fmt"
)

// addedColumn is a column that a migration after the first added to a
// table. A database of an older version lacks it: the merge, the
// containment check and the digest read it there as its default, so that a
// snapshot from an older Ferry merges as if it had been migrated first.
type addedColumn struct {
	table, name string
	since       int    // the schema version that added it
	zero        string // its default, as an SQL literal
}

// addedColumns lists them per table in the order the migrations added them;
// the digest hashes them in this order (digest.go).
var addedColumns = [...]addedColumn{
	{"contacts", "source", 2, "''"},
	{"contacts", "native", 2, "''"},
	{"contacts", "self", 2, "0"},
	{"conversations", "source", 2, "''"},
	{"conversations", "native", 2, "''"},
	{"messages", "kind", 2, "0"},
	{"messages", "native", 2, "''"},
	{"messages", "omitted", 2, "0"},
}

// colIn is how a query reads column name of table from a database of
// schema version v, its columns qualified by prefix ("s." or ""): the column
// itself, or its default when version v predates it.
func colIn(v int, prefix, table, name string) string {
	for _, c := range addedColumns {
		if c.table == table && c.name == name {
			if v < c.since {
				return c.zero
			}
			return prefix + name
		}
	}
	panic("chatstore: no added column " + table + "." + name)
}

// schemaVersionOf reads the schema version of the database schema (main,
// snap) that db is connected to.
func schemaVersionOf(ctx context.Context, db rowQuerier, schema string) (int, error) {
	var v int
	if err := db.QueryRowContext(ctx, fmt.Sprintf("PRAGMA %s.user_version", schema)).Scan(&v); err != nil {
		return 0, dbErr("read schema version", err)
	}
	return v, nil
}
