package chatstore

import (
	"context"
	"testing"
)

// A merge of more than maxQueued new messages takes all of them and
// schedules a rebuild of the search index (done does not read the IDs it
// recorded then).
func TestMergeBeyondQueueSchedulesRebuild(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds more than 100,000 messages")
	}
	ctx := context.Background()
	n := maxQueued + 50_000
	src, _ := seeded(t, seedOptions{Messages: n, Seed: 3})
	snap := snapshot(t, src)
	dst, _ := seeded(t, seedOptions{Messages: 10, Seed: 1})
	upToDate(t, dst)
	res, err := dst.Merge(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != int64(n) {
		t.Errorf("%d messages added, want %d", res.Messages, n)
	}
	if st, _ := indexMeta(t, dst); !st.walk || st.changing != 0 {
		t.Errorf("walk %v, %d changes under way; want a rebuild, none under way", st.walk, st.changing)
	}
	if err := dst.CheckContains(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if got := mustStats(t, dst).Messages; got != int64(n)+10 {
		t.Errorf("%d messages after the merge, want %d", got, n+10)
	}
}

// upToDate builds s's search index, so that what a change leaves it to do
// is what the change recorded.
func upToDate(t *testing.T, s *Store) {
	t.Helper()
	ix := openIndex(t, s)
	defer ix.Close()
	if err := ix.Update(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}
