package chatstore

import (
	"context"
	"errors"
	"testing"
)

func TestAttachedFile(t *testing.T) {
	st, _ := seeded(t, seedOptions{Messages: 400, MediaBytes: 2 << 20, Seed: 2})
	ctx := context.Background()
	convs, err := st.Conversations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, c := range convs {
		page, err := st.Messages(ctx, c.ID, MessageQuery{Limit: MaxPage})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Messages {
			for _, want := range m.Attachments {
				got, err := st.AttachedFile(ctx, want.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("AttachedFile(%s) = %+v, want %+v", want.ID, got, want)
				}
				seen++
			}
		}
	}
	if seen == 0 {
		t.Fatal("the seeded history has no attachments: the test checks nothing")
	}
	if _, err := st.AttachedFile(ctx, ID{1}); !errors.Is(err, ErrNoAttachment) {
		t.Errorf("AttachedFile of an unknown ID: %v, want ErrNoAttachment", err)
	}
}
