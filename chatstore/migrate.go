package chatstore

import (
	"context"
	"embed"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// schemaFS holds the migrations: schema/NNNN_name.sql takes a database from
// version NNNN-1 to NNNN (PRAGMA user_version).
//
//go:embed schema/*.sql
var schemaFS embed.FS

type migration struct {
	version int
	sql     string
}

// migrations lists the embedded migrations in order; it panics on a gap,
// which a test catches at build time.
func migrations() []migration {
	ents, err := schemaFS.ReadDir("schema")
	if err != nil {
		panic(err)
	}
	var ms []migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			panic("chatstore: bad migration name " + e.Name())
		}
		b, err := schemaFS.ReadFile("schema/" + e.Name())
		if err != nil {
			panic(err)
		}
		ms = append(ms, migration{v, string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			panic(fmt.Sprintf("chatstore: migration %d missing", i+1))
		}
	}
	return ms
}

// schemaVersion is the version this code writes.
func schemaVersion() int { return len(migrations()) }

// migrate applies the migrations above version from, in one transaction.
func migrate(ctx context.Context, db querier, from int) error {
	return applyMigrations(ctx, db, migrations(), from)
}

// applyMigrations applies ms[from:] in one transaction and stamps the
// database as Ferry's.
func applyMigrations(ctx context.Context, db querier, ms []migration, from int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return dbErr("begin migration", err)
	}
	defer tx.Rollback()
	for _, m := range ms[from:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return dbErr(fmt.Sprintf("migrate to version %d", m.version), err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version=%d", m.version)); err != nil {
			return dbErr("set user_version", err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id=%d", ApplicationID)); err != nil {
		return dbErr("set application_id", err)
	}
	if err := tx.Commit(); err != nil {
		return dbErr("commit migration", err)
	}
	return nil
}
