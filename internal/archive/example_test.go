package archive_test

import (
	"bytes"
	"fmt"
	"io"
	"log"

	"github.com/ferryhq/ferry/internal/archive"
)

func Example() {
	key, err := archive.NewKey()
	if err != nil {
		log.Fatal(err)
	}
	// key.RecoveryString() is what the user writes down.

	var file bytes.Buffer
	w, err := archive.NewWriter(&file, key, 3)
	if err != nil {
		log.Fatal(err)
	}
	for _, frame := range []string{"manifest", "chunk 1", "chunk 2"} {
		if err := w.WriteFrame([]byte(frame)); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	r, err := archive.NewReader(&file)
	if err != nil {
		log.Fatal(err) // ErrNotArchive, ErrNewerVersion, ErrTruncated, ErrCorrupt
	}
	if err := r.Unlock(key); err != nil {
		log.Fatal(err) // ErrWrongKey, ErrCorrupt
	}
	for {
		frame, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err) // ErrCorrupt, ErrTruncated
		}
		fmt.Printf("%s\n", frame)
	}
	// Output:
	// manifest
	// chunk 1
	// chunk 2
}
