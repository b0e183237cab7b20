package vaultstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferryhq/ferry/relay/vaultstore/miniotest"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// withPath returns the MinIO URL u with its path replaced; the path's
// bucket is prefixed with u's own, which is unique to the test (the server
// may be shared with other tests).
func withPath(t *testing.T, u, path string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.Path = p.Path + "-" + strings.TrimPrefix(path, "/")
	return p.String()
}

// bucketOf returns the bucket a store URL names.
func bucketOf(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitN(strings.TrimPrefix(p.Path, "/"), "/", 2)[0]
}

func TestS3Conformance(t *testing.T) {
	base := miniotest.Start(t)
	var n atomic.Int32
	testConformance(t, func(t *testing.T) Store {
		// Odd stores get a bucket of their own, even ones share a bucket
		// under distinct prefixes, so both layouts are covered.
		i := n.Add(1)
		path := fmt.Sprintf("/vault-%d", i)
		if i%2 == 0 {
			path = fmt.Sprintf("/shared/tenant/t%d", i)
		}
		s, err := NewS3(context.Background(), withPath(t, base, path))
		if err != nil {
			t.Fatalf("NewS3: %v", err)
		}
		return s
	})
}

// TestS3SwapShared: two clients of one bucket (two relay processes) count
// with Swap as one: MinIO honours If-Match and If-None-Match on PUT.
func TestS3SwapShared(t *testing.T) {
	u := miniotest.Start(t)
	a, err := NewS3(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewS3(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	testSwapCounter(t, a, b)
}

// TestS3NoIncompleteUploads checks that a failed upload (a single PUT up
// to maxSinglePut, multipart above) leaves no incomplete upload behind
// holding space.
func TestS3NoIncompleteUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 17 and 64 MiB")
	}
	base := miniotest.Start(t)
	ctx := context.Background()
	s, err := NewS3(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	c := s.(*s3Store).client
	for _, size := range []int{17 << 20, maxSinglePut + 1} {
		key := fmt.Sprintf("big/b%d", size)
		data := payload(size, 3)
		if err := s.Put(ctx, key, &failingReader{data: data, n: len(data) - 1}, int64(len(data))); err == nil {
			t.Fatalf("Put of %d bytes with a failing reader succeeded", size)
		}
		assertMissing(t, s, key)
		var uploads []string
		for u := range c.ListIncompleteUploads(ctx, bucketOf(t, base), "", true) {
			if u.Err != nil {
				t.Fatal(u.Err)
			}
			uploads = append(uploads, u.Key)
		}
		if len(uploads) != 0 {
			t.Errorf("%d bytes: incomplete uploads left: %q", size, uploads)
		}
		mustPut(t, s, key, data)
		if got := mustGet(t, s, key); !bytes.Equal(got, data) {
			t.Errorf("Get of a %d-byte object differs from what was put", size)
		}
	}
}

// TestS3ForeignObjects checks that List skips objects that are not keys
// (put by someone else into the bucket) and that a store with a prefix sees
// only its own objects.
func TestS3ForeignObjects(t *testing.T) {
	base := miniotest.Start(t)
	ctx := context.Background()
	storeURL := withPath(t, base, "/bkt/p")
	s, err := NewS3(ctx, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "k", []byte("x"))
	u, _ := url.Parse(base)
	pw, _ := u.User.Password()
	c, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(u.User.Username(), pw, "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"p/a.txt", "p/x y", "p/.d/k", "p2/k", "k", "p/%2e"} {
		if _, err := c.PutObject(ctx, bucketOf(t, storeURL), name, strings.NewReader("f"), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("PutObject(%q): %v", name, err)
		}
	}
	assertList(t, s, "", []string{"k"})
}

func TestS3Env(t *testing.T) {
	base := miniotest.Start(t)
	u, _ := url.Parse(base)
	pw, _ := u.User.Password()
	t.Setenv("AWS_ACCESS_KEY_ID", u.User.Username())
	t.Setenv("AWS_SECRET_ACCESS_KEY", pw)
	u.User = nil
	s, err := NewS3(context.Background(), u.String())
	if err != nil {
		t.Fatalf("NewS3 with credentials from the environment: %v", err)
	}
	mustPut(t, s, "k", []byte("x"))

	// Wrong credentials fail at NewS3, and the error does not show them.
	u.User = url.UserPassword("wrong", "wrong-secret-123")
	_, err = NewS3(context.Background(), u.String())
	if err == nil {
		t.Fatal("NewS3 with wrong credentials succeeded")
	}
	if strings.Contains(err.Error(), "wrong-secret-123") {
		t.Errorf("error shows the secret: %v", err)
	}
}

func TestParseS3URL(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "EAK", "AWS_SECRET_ACCESS_KEY": "ESK", "AWS_SESSION_TOKEN": "TOK"}
	getenv := func(k string) string { return env[k] }
	noenv := func(string) string { return "" }
	tests := []struct {
		url    string
		getenv func(string) string
		want   s3Config
	}{
		{"s3://ak:sk@127.0.0.1:9000/bkt?secure=false", noenv,
			s3Config{host: "127.0.0.1:9000", bucket: "bkt", access: "ak", secret: "sk"}},
		{"s3://ak:s%2Fk%2B@s3.example.com/bkt/a/b/?region=eu-west-3", noenv,
			s3Config{host: "s3.example.com", bucket: "bkt", prefix: "a/b/", region: "eu-west-3", access: "ak", secret: "s/k+", secure: true}},
		{"s3://h:1/bkt", getenv,
			s3Config{host: "h:1", bucket: "bkt", access: "EAK", secret: "ESK", token: "TOK", secure: true}},
	}
	for _, tt := range tests {
		got, err := parseS3URL(tt.url, tt.getenv)
		if err != nil || got != tt.want {
			t.Errorf("parseS3URL(%q) = %+v, %v; want %+v", tt.url, got, err, tt.want)
		}
	}
	bad := []string{
		"", "http://ak:sk@h/bkt", "s3://ak:sk@/bkt", "s3://ak:sk@h", "s3://ak:sk@h/", "s3://ak:sk@h/B_ad", "s3://ak:sk@h/b",
		"s3://ak:sk@h/bkt/../x", "s3://ak:sk@h/bkt/a.b", "s3://ak:sk@h/bkt?secure=maybe", "s3://ak:sk@h/bkt?bogus=1",
		"s3://h/bkt", "s3://ak@h/bkt", "s3://ak:s/k@h/bkt", "s3://ak:s k@h/bkt",
	}
	for _, u := range bad {
		if _, err := parseS3URL(u, noenv); err == nil {
			t.Errorf("parseS3URL(%q) succeeded, want an error", u)
		} else if strings.Contains(err.Error(), "s/k") {
			t.Errorf("parseS3URL(%q) error shows the secret: %v", u, err)
		}
	}
	_, err := parseS3URL("s3://h/bkt", noenv)
	if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("error without credentials = %v, want one naming AWS_ACCESS_KEY_ID", err)
	}
}

// TestS3PutAfterAccessDenied: a Put MinIO refuses with AccessDenied while a
// Delete empties the directory it writes into (the race
// testConcurrentPutDelete provokes now and then) is sent again and lands;
// a reader that cannot rewind is not sent twice, and a refusal that lasts
// is returned. A proxy in front of the real server answers chosen PUTs as
// MinIO does in that race.
func TestS3PutAfterAccessDenied(t *testing.T) {
	base := miniotest.Start(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	target := &url.URL{Scheme: "http", Host: u.Host}
	var refuse atomic.Int32 // how many of the next PUTs to refuse
	var puts atomic.Int32
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/k") {
			puts.Add(1)
			if refuse.Add(-1) >= 0 {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied.</Message></Error>`)
				return
			}
			refuse.Store(0)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	pu, _ := url.Parse(srv.URL)
	u.Host = pu.Host
	ctx := context.Background()
	s, err := NewS3(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("the object")

	refuse.Store(2)
	puts.Store(0)
	if err := s.Put(ctx, "d/k1", bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatalf("Put refused twice: %v", err)
	}
	if got := mustGet(t, s, "d/k1"); !bytes.Equal(got, body) || puts.Load() != 3 {
		t.Errorf("after 2 refusals: %q in %d PUTs, want %q in 3", got, puts.Load(), body)
	}

	refuse.Store(1)
	puts.Store(0)
	err = s.Put(ctx, "d/k2", struct{ io.Reader }{bytes.NewReader(body)}, int64(len(body)))
	if minio.ToErrorResponse(errors.Unwrap(err)).Code != "AccessDenied" || puts.Load() != 1 {
		t.Errorf("a reader that cannot rewind: %v after %d PUTs, want AccessDenied after 1", err, puts.Load())
	}

	refuse.Store(100)
	puts.Store(0)
	if err := s.Put(ctx, "d/k3", bytes.NewReader(body), int64(len(body))); err == nil || puts.Load() != putAttempts {
		t.Errorf("a lasting refusal: %v after %d PUTs, want an error after %d", err, puts.Load(), putAttempts)
	}
	assertList(t, s, "d/", []string{"d/k1"})
}
