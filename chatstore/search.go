package chatstore

import (
	"context"
	"fmt"
)

// SearchOptions tunes Search.
type SearchOptions struct {
	// Limit is how many hits to return: 1 to MaxPage, 0 means DefaultPage.
	Limit int
}

// Hit is one message found by Search, with its conversation, sender and
// attachments like any Message.
type Hit struct {
	Message
	// Score is the hit's relevance (FTS5's BM25, negated: higher is better).
	Score float64
}

// rankWindow bounds how many matches Search ranks: the newest ones. BM25
// costs a few microseconds per match, and a word found in tens of
// thousands of messages would otherwise cost a search over a million
// messages more than 50 ms; such a word is ranked among its latest uses.
const rankWindow = 5000

// Search finds the messages whose text matches query, best first (BM25:
// rarer words, and more of them in a shorter message, rank higher; among
// the rankWindow most recently indexed matches when there are more). See
// compileQuery for what a query may hold; letters compare without regard
// to case or accents. Search first brings the index up to date (Update),
// which for a history the index has not seen yet means building it.
// Deleted messages are never found.
func (ix *Index) Search(ctx context.Context, query string, opts SearchOptions) ([]Hit, error) {
	limit := opts.Limit
	switch {
	case limit == 0:
		limit = DefaultPage
	case limit < 0 || limit > MaxPage:
		return nil, fmt.Errorf("chatstore: search: give 1 to %d hits, not %d: %w", MaxPage, opts.Limit, ErrBadQuery)
	}
	expr, err := compileQuery(query)
	if err != nil {
		return nil, err
	}
	if err := ix.Update(ctx, nil); err != nil {
		return nil, err
	}
	ids, scores, err := ix.match(ctx, expr, limit)
	if err != nil {
		return nil, err
	}
	msgs, err := ix.st.MessagesByID(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("chatstore: search: %w", err)
	}
	hits := make([]Hit, 0, len(msgs))
	for _, m := range msgs {
		// The index lags a change that is still being committed;
		// the history is what counts.
		if !m.Deleted.IsZero() || m.Body == "" {
			continue
		}
		hits = append(hits, Hit{Message: m, Score: scores[m.ID]})
	}
	return hits, nil
}

// match runs an FTS5 query and returns the IDs of the best limit messages.
func (ix *Index) match(ctx context.Context, expr string, limit int) ([]ID, map[ID]float64, error) {
	conn, _, err := ix.conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, `SELECT d.id, c.rank FROM
		(SELECT rowid, rank FROM main.fts WHERE fts MATCH ? ORDER BY rowid DESC LIMIT ?) c
		CROSS JOIN main.docs d ON d.n = c.rowid ORDER BY c.rank LIMIT ?`, expr, rankWindow, limit)
	if err != nil {
		return nil, nil, dbErr("search", err)
	}
	defer rows.Close()
	var ids []ID
	scores := make(map[ID]float64, limit)
	for rows.Next() {
		var (
			idb  []byte
			rank float64
		)
		if err := rows.Scan(&idb, &rank); err != nil {
			return nil, nil, dbErr("search", err)
		}
		id, err := idFrom(idb)
		if err != nil {
			return nil, nil, fmt.Errorf("chatstore: search: %w", err)
		}
		ids = append(ids, id)
		scores[id] = -rank
	}
	if err := rows.Err(); err != nil {
		return nil, nil, dbErr("search", err)
	}
	return ids, scores, nil
}
