package chatstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// A database that comes from outside (a sender's snapshot, an archive, a
// backup) is never trusted to hold Ferry's schema: SQLite runs whatever
// triggers, views and index expressions a file carries, and the digest
// covers rows only. checkSchema requires sqlite_schema to be exactly what
// the embedded migrations 1..N make for the file's version N, derived by
// applying them to a fresh in-memory database: there is no list of objects
// to keep in step with the migrations.

// schemaObject is one row of sqlite_schema, less rootpage (which depends on
// the file's history, not on its schema).
type schemaObject struct {
	Type, Name, Table string
	SQL               sql.NullString
}

func (o schemaObject) String() string {
	if o.Table != "" && o.Table != o.Name {
		return fmt.Sprintf("%s %q on %q", o.Type, o.Name, o.Table)
	}
	return fmt.Sprintf("%s %q", o.Type, o.Name)
}

func compareObjects(a, b schemaObject) int {
	if c := strings.Compare(a.Type, b.Type); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// rowsQuerier is what *sql.DB, *sql.Conn and *sql.Tx have in common for queries.
type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readSchema lists the objects of schema (main, or an attached name), sorted.
func readSchema(ctx context.Context, q rowsQuerier, schema string) ([]schemaObject, error) {
	rows, err := q.QueryContext(ctx, "SELECT type, name, tbl_name, sql FROM "+schema+".sqlite_schema")
	if err != nil {
		return nil, dbErr("read schema", err)
	}
	defer rows.Close()
	var out []schemaObject
	for rows.Next() {
		var o schemaObject
		if err := rows.Scan(&o.Type, &o.Name, &o.Table, &o.SQL); err != nil {
			return nil, dbErr("read schema", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("read schema", err)
	}
	slices.SortFunc(out, compareObjects)
	return out, nil
}

// canonicalSchema is the schema that migrations ms[:version] make, read back
// from a private in-memory database (opened with the same pragmas as every
// other database, so that SQLite normalises the SQL text the same way).
func canonicalSchema(ctx context.Context, ms []migration, version int) ([]schemaObject, error) {
	if version < 1 || version > len(ms) {
		return nil, fmt.Errorf("chatstore: no schema version %d", version)
	}
	return schemaMadeBy(ctx, func(db *sql.DB) error { return applyMigrations(ctx, db, ms[:version], 0) })
}

// schemaMadeBy is the schema that build creates in a fresh in-memory
// database, read back (SQLite adds what it adds, such as FTS5's shadow
// tables, and normalises the SQL text as it does for every file).
func schemaMadeBy(ctx context.Context, build func(*sql.DB) error) ([]schemaObject, error) {
	db, err := sql.Open("sqlite", memoryDSN())
	if err != nil {
		return nil, fmt.Errorf("chatstore: schema: %w", err)
	}
	defer db.Close()
	// One connection: an in-memory database lives and dies with it.
	db.SetMaxOpenConns(1)
	if err := build(db); err != nil {
		return nil, err
	}
	return readSchema(ctx, db, "main")
}

// checkSchema returns an error wrapping ErrForeignSchema unless schema in q
// holds exactly the objects Ferry's migrations make for version, with the
// same SQL, and the text encoding Ferry writes.
func checkSchema(ctx context.Context, q rowsQuerier, schema string, version int) error {
	return checkSchemaAgainst(ctx, q, schema, version, func() ([]schemaObject, error) {
		all, err := ourSchemas()
		if err != nil {
			return nil, err
		}
		if version < 1 || version > len(all) {
			return nil, fmt.Errorf("chatstore: no schema version %d", version)
		}
		return all[version-1], nil
	})
}

// ourSchemas is the canonical schema of every version of Ferry's own
// migrations, made once per process: the migrations are compiled in, so
// the answer never changes, and every database from outside is checked
// against it (building it costs an in-memory database and every migration).
var ourSchemas = sync.OnceValues(func() ([][]schemaObject, error) {
	ms := migrations()
	out := make([][]schemaObject, len(ms))
	for v := 1; v <= len(ms); v++ {
		s, err := canonicalSchema(context.Background(), ms, v)
		if err != nil {
			return nil, err
		}
		out[v-1] = s
	}
	return out, nil
})

// checkSchemaOf is checkSchema against the migrations ms (tests use it to
// add a migration of their own).
func checkSchemaOf(ctx context.Context, q rowsQuerier, schema string, ms []migration, version int) error {
	return checkSchemaAgainst(ctx, q, schema, version, func() ([]schemaObject, error) { return canonicalSchema(ctx, ms, version) })
}

func checkSchemaAgainst(ctx context.Context, q rowsQuerier, schema string, version int, canonical func() ([]schemaObject, error)) error {
	var enc string
	if err := q.QueryRowContext(ctx, "PRAGMA "+schema+".encoding").Scan(&enc); err != nil {
		return dbErr("read encoding", err)
	}
	if enc != "UTF-8" {
		return fmt.Errorf("text encoding %s, Ferry writes UTF-8: %w", enc, ErrForeignSchema)
	}
	want, err := canonical()
	if err != nil {
		return err
	}
	got, err := readSchema(ctx, q, schema)
	if err != nil {
		return err
	}
	if diff := schemaDiff(got, want); diff != "" {
		return fmt.Errorf("%w: %s", ErrForeignSchema, diff)
	}
	return nil
}

// schemaDiff names the first difference between got and want (both sorted),
// or returns "" when they are equal.
func schemaDiff(got, want []schemaObject) string {
	i, j := 0, 0
	for i < len(got) || j < len(want) {
		switch {
		case j == len(want) || (i < len(got) && compareObjects(got[i], want[j]) < 0):
			return got[i].String() + " is not part of Ferry's schema"
		case i == len(got) || compareObjects(got[i], want[j]) > 0:
			return want[j].String() + " is missing"
		case got[i] != want[j]:
			return got[i].String() + " differs from Ferry's definition"
		}
		i, j = i+1, j+1
	}
	return ""
}
