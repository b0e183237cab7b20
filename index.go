package ferry

import (
	"context"
	"log/slog"

	"github.com/ferryhq/ferry/chatstore"
)

// indexNowLimit is the largest backlog of the search index that a call
// which changed the history indexes before it returns (about a second);
// more is left to the first search.
const indexNowLimit = 50_000

// catchUpIndex is run by the calls that change the history, once it is
// committed: it indexes what is new when that is quick, so that the next
// search need not, with progress events of PhaseIndexing. It never fails
// the call (the history is in place; the next search catches up).
func catchUpIndex(ctx context.Context, st *chatstore.Store, log *slog.Logger, emit func(Event)) {
	ix, err := chatstore.OpenIndex(ctx, st)
	if err == nil {
		var n int64
		if n, err = ix.Behind(ctx); err == nil && n > 0 && n <= indexNowLimit {
			err = ix.Update(ctx, func(done, total int64) {
				if emit != nil {
					emit(Event{Kind: EventProgress, Phase: PhaseIndexing, Done: done, Total: total})
				}
			})
		}
		ix.Close()
	}
	if err != nil {
		log.Warn("the search index was not updated; the next search will do it", "err", err)
	}
}
