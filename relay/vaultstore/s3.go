package vaultstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// s3Store keeps each object as one S3 object named prefix+key.
type s3Store struct {
	// Constant after construction.
	client *minio.Client
	bucket string
	prefix string // "" or a valid key followed by "/"
}

var _ Store = (*s3Store)(nil)

// NewS3 returns a Store that keeps objects in a bucket of S3-compatible
// object storage (AWS S3, MinIO, Ceph RGW, Garage, ...), creating the bucket
// if it does not exist. rawURL has the form
//
//	s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX][?secure=false&region=REGION]
//
// where ACCESS and SECRET are percent-encoded (a "/" or "+" in a secret is
// "%2F" or "%2B"); without them, the credentials come from the environment
// variables AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, if set,
// AWS_SESSION_TOKEN. Key "a/b" is the object PREFIX/a/b. secure=false
// speaks plain HTTP (the default is HTTPS); region is needed only by
// services that insist on one. Example, a local MinIO:
//
//	s3://minioadmin:minioadmin@127.0.0.1:9000/ferry-vault?secure=false
//
// Every Put of up to 64 MiB (every vault object: chunks of at most 24
// MiB, manifests of at most 33 MiB) is a single PUT, which S3 makes visible
// only when complete and, when the relay is killed midway, simply drops:
// nothing partial is visible and nothing is left holding space. Larger
// objects go as a multipart upload, aborted on failure (a relay killed
// during one leaves an incomplete upload for the bucket's lifecycle rule
// to remove). Errors never contain the secret.
func NewS3(ctx context.Context, rawURL string) (Store, error) {
	cfg, err := parseS3URL(rawURL, os.Getenv)
	if err != nil {
		return nil, err
	}
	client, err := minio.New(cfg.host, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.access, cfg.secret, cfg.token),
		Secure: cfg.secure,
		Region: cfg.region,
	})
	if err != nil {
		return nil, fmt.Errorf("vaultstore: open s3 %s: %w", cfg.host, err)
	}
	s := &s3Store{client: client, bucket: cfg.bucket, prefix: cfg.prefix}
	if err := s.makeBucket(ctx, cfg.region); err != nil {
		return nil, err
	}
	return s, nil
}

type s3Config struct {
	host, bucket, prefix, region string
	access, secret, token        string
	secure                       bool
}

// parseS3URL parses NewS3's URL; getenv supplies the environment.
func parseS3URL(rawURL string, getenv func(string) string) (s3Config, error) {
	var cfg s3Config
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the URL, secret included: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return cfg, fmt.Errorf("vaultstore: s3 URL: %v (percent-encode \"/\", \"+\" and \"@\" in the credentials)", err)
	}
	if u.Scheme != "s3" {
		return cfg, fmt.Errorf("vaultstore: s3 URL: scheme %q, want s3://ACCESS:SECRET@HOST/BUCKET", u.Scheme)
	}
	if u.Host == "" {
		return cfg, errors.New("vaultstore: s3 URL: no host, want s3://ACCESS:SECRET@HOST/BUCKET")
	}
	cfg.host = u.Host
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil {
		return cfg, fmt.Errorf("vaultstore: s3 URL: bucket %q: %v", bucket, err)
	}
	cfg.bucket = bucket
	if prefix = strings.TrimSuffix(prefix, "/"); prefix != "" {
		if err := checkKey(prefix); err != nil {
			return cfg, fmt.Errorf("vaultstore: s3 URL: object prefix: %w", err)
		}
		cfg.prefix = prefix + "/"
	}
	cfg.secure = true
	for k, v := range u.Query() {
		switch k {
		case "secure":
			if cfg.secure, err = strconv.ParseBool(v[len(v)-1]); err != nil {
				return cfg, fmt.Errorf("vaultstore: s3 URL: secure=%q: want true or false", v[len(v)-1])
			}
		case "region":
			cfg.region = v[len(v)-1]
		default:
			return cfg, fmt.Errorf("vaultstore: s3 URL: unknown parameter %q (known: secure, region)", k)
		}
	}
	if u.User != nil {
		cfg.access = u.User.Username()
		cfg.secret, _ = u.User.Password()
	} else {
		cfg.access = getenv("AWS_ACCESS_KEY_ID")
		cfg.secret = getenv("AWS_SECRET_ACCESS_KEY")
		cfg.token = getenv("AWS_SESSION_TOKEN")
	}
	if cfg.access == "" || cfg.secret == "" {
		return cfg, errors.New("vaultstore: s3 URL: no credentials: give s3://ACCESS:SECRET@HOST/BUCKET or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	return cfg, nil
}

func (s *s3Store) makeBucket(ctx context.Context, region string) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("vaultstore: open s3 bucket %s: %w", s.bucket, err)
	}
	if ok {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region})
	if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
		return fmt.Errorf("vaultstore: create s3 bucket %s: %w", s.bucket, err)
	}
	return nil
}

// s3Err wraps err from operation op on key, mapping a missing object to
// ErrNotFound.
func s3Err(op, key string, err error) error {
	if minio.ToErrorResponse(err).Code == "NoSuchKey" {
		err = ErrNotFound
	}
	return fmt.Errorf("vaultstore: %s %s: %w", op, key, err)
}

func (s *s3Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("vaultstore: put: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("vaultstore: put %s: negative size %d", key, size)
	}
	// A seekable reader (every Put of the vault's server is one) can be
	// sent again: MinIO on a single drive removes the directory of a
	// prefix emptied by a Delete while a Put into it moves its file in,
	// and answers that Put with 403 AccessDenied (minio/minio#12914,
	// #15157); the same Put an instant later succeeds.
	seeker, _ := r.(io.Seeker)
	var start int64
	if seeker != nil {
		var err error
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			seeker = nil
		}
	}
	var err error
	for attempt := 0; ; attempt++ {
		var er *exactReader
		er, err = s.putOnce(ctx, key, r, size)
		if err != nil && er.err != nil {
			// The upload failed because reading failed: say so, rather
			// than how the client noticed ("connection closed", ...).
			return fmt.Errorf("vaultstore: put %s: %w", key, er.err)
		}
		if err == nil || seeker == nil || attempt+1 == putAttempts ||
			minio.ToErrorResponse(err).Code != "AccessDenied" {
			break
		}
		if _, serr := seeker.Seek(start, io.SeekStart); serr != nil {
			break
		}
		// 10 ms, 40 ms, 160 ms, 640 ms.
		t := time.NewTimer(10 * time.Millisecond << (2 * attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("vaultstore: put %s: %w", key, ctx.Err())
		case <-t.C:
		}
	}
	if err != nil {
		return s3Err("put", key, err)
	}
	return nil
}

// putAttempts is how many times Put sends an upload that MinIO refuses
// with AccessDenied; a refusal that is real costs 850 ms of pauses.
const putAttempts = 5

// putOnce sends one upload of size bytes from r.
func (s *s3Store) putOnce(ctx context.Context, key string, r io.Reader, size int64) (*exactReader, error) {
	// exactReader hides r's Seek, so the client never rewinds a caller's
	// reader; turns an early EOF into an error, so the upload fails at
	// once instead of being retried part by part; and stops at once when
	// ctx is done, so the server never receives the whole body.
	er := &exactReader{ctx: ctx, r: r, left: size}
	_, err := s.client.PutObject(ctx, s.bucket, s.prefix+key, er, size, minio.PutObjectOptions{
		ContentType:      "application/octet-stream",
		DisableMultipart: size <= maxSinglePut,
	})
	return er, err
}

// maxSinglePut is the largest object Put sends in one request.
const maxSinglePut = 64 << 20

// exactReader reads exactly left bytes from r: io.EOF after them, and
// an error wrapping io.ErrUnexpectedEOF if r ends before; ctx's error once
// ctx is done.
type exactReader struct {
	ctx  context.Context
	r    io.Reader
	left int64
	err  error // the first error Read returned, io.EOF aside
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

func (e *exactReader) read(p []byte) (int, error) {
	if err := e.ctx.Err(); err != nil {
		return 0, err
	}
	if e.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF {
		if e.left > 0 {
			// Wrapped: the client takes a bare io.ErrUnexpectedEOF for
			// the short last part of a multipart upload.
			return n, fmt.Errorf("reader ended %d bytes early: %w", e.left, io.ErrUnexpectedEOF)
		}
		err = nil
	}
	return n, err
}

func (s *s3Store) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := checkKey(key); err != nil {
		return nil, 0, fmt.Errorf("vaultstore: get: %w", err)
	}
	// One GET, whose body is one version of the object even if it is
	// overwritten or deleted while being read (minio.Client.GetObject
	// would issue more requests, failing when the object changes).
	core := minio.Core{Client: s.client}
	body, info, _, err := core.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, 0, s3Err("get", key, err)
	}
	return body, info.Size, nil
}

func (s *s3Store) Stat(ctx context.Context, key string) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, fmt.Errorf("vaultstore: stat: %w", err)
	}
	info, err := s.client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return 0, s3Err("stat", key, err)
	}
	return info.Size, nil
}

func (s *s3Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("vaultstore: delete: %w", err)
	}
	err := s.client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchKey" {
		return s3Err("delete", key, err)
	}
	return nil
}

func (s *s3Store) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("vaultstore: list: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine if we return early
	var objs []Object
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{
		Prefix:    s.prefix + prefix,
		Recursive: true,
	}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("vaultstore: list %s: %w", prefix, obj.Err)
		}
		key := strings.TrimPrefix(obj.Key, s.prefix)
		if checkKey(key) == nil {
			objs = append(objs, Object{Key: key, Size: obj.Size})
		}
	}
	slices.SortFunc(objs, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	return objs, nil
}

func (s *s3Store) Swap(ctx context.Context, key string, old, new []byte) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("vaultstore: swap: %w", err)
	}
	if len(new) > MaxSwap {
		return fmt.Errorf("vaultstore: swap %s: %d bytes, at most %d", key, len(new), MaxSwap)
	}
	// Read the object and its ETag, compare, and write only if the ETag is
	// still the one read (If-Match), or, for a new object, only if there is
	// none (If-None-Match: *). S3 and MinIO refuse the write with 412
	// Precondition Failed when another writer came first.
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true}
	core := minio.Core{Client: s.client}
	body, info, _, err := core.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	switch {
	case minio.ToErrorResponse(err).Code == "NoSuchKey":
		if old != nil {
			return fmt.Errorf("vaultstore: swap %s: %w", key, ErrConflict)
		}
		opts.SetMatchETagExcept("*")
	case err != nil:
		return s3Err("swap", key, err)
	default:
		cur, err := io.ReadAll(io.LimitReader(body, MaxSwap+1))
		body.Close()
		if err != nil {
			return s3Err("swap", key, err)
		}
		if old == nil || !bytes.Equal(cur, old) {
			return fmt.Errorf("vaultstore: swap %s: %w", key, ErrConflict)
		}
		if info.ETag == "" {
			return fmt.Errorf("vaultstore: swap %s: the server gave no ETag to write against", key)
		}
		opts.SetMatchETag(info.ETag)
	}
	_, err = s.client.PutObject(ctx, s.bucket, s.prefix+key, bytes.NewReader(new), int64(len(new)), opts)
	switch code := minio.ToErrorResponse(err).Code; {
	case err == nil:
		return nil
	case code == "PreconditionFailed" || code == "ConditionalRequestConflict" || minio.ToErrorResponse(err).StatusCode == 412:
		return fmt.Errorf("vaultstore: swap %s: %w", key, ErrConflict)
	}
	return s3Err("swap", key, err)
}
