package vaultstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/relay/vaultstore/miniotest"
)

// benchStores returns the stores to benchmark: the directory store, and
// S3 on a local MinIO when there is one.
func benchStores(b *testing.B) map[string]func(b *testing.B) Store {
	return map[string]func(b *testing.B) Store{
		"dir": func(b *testing.B) Store {
			s, err := NewDir(filepath.Join(b.TempDir(), "v"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
		"s3": func(b *testing.B) Store {
			s, err := NewS3(context.Background(), miniotest.Start(b))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
}

// BenchmarkPut stores vault-sized chunks (at most 8 MiB) under new keys.
func BenchmarkPut(b *testing.B) {
	for _, name := range []string{"dir", "s3"} {
		for _, size := range []int{64 << 10, 8 << 20} {
			b.Run(fmt.Sprintf("%s/%dKiB", name, size>>10), func(b *testing.B) {
				s := benchStores(b)[name](b)
				data := payload(size, 5)
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if err := s.Put(ctx, fmt.Sprintf("acct/a/chunks/c%d", i), bytes.NewReader(data), int64(size)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkGet reads one chunk back, whole.
func BenchmarkGet(b *testing.B) {
	for _, name := range []string{"dir", "s3"} {
		for _, size := range []int{64 << 10, 8 << 20} {
			b.Run(fmt.Sprintf("%s/%dKiB", name, size>>10), func(b *testing.B) {
				s := benchStores(b)[name](b)
				data := payload(size, 5)
				ctx := context.Background()
				if err := s.Put(ctx, "c", bytes.NewReader(data), int64(size)); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(size))
				b.ResetTimer()
				for b.Loop() {
					rc, _, err := s.Get(ctx, "c")
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.Copy(io.Discard, rc); err != nil {
						b.Fatal(err)
					}
					rc.Close()
				}
			})
		}
	}
}
