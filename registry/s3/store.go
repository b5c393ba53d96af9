package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/dewyhq/dewy/cache"
	"github.com/dewyhq/dewy/registry"
)

// Store is a shared cache in a bucket (agent { cache = "s3://..." }).
// Create is a PutObject with If-None-Match: *, which S3 and the
// S3-compatible stores that support conditional writes answer with 412
// when the key exists.
type Store struct {
	client *s3.Client
	bucket string
	prefix string
}

var _ cache.Store = (*Store)(nil)

// NewStore returns the cache at u, s3://<region>/<bucket>/<prefix>[?endpoint=URL].
func NewStore(ctx context.Context, u *url.URL) (*Store, error) {
	c, bucket, prefix, err := open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("s3 cache: %w", err)
	}
	return &Store{client: c, bucket: bucket, prefix: prefix}, nil
}

func (s *Store) String() string { return "s3://" + s.bucket + "/" + s.prefix }

// Get opens an object.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, cache.Info, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil, cache.Info{}, fmt.Errorf("s3 cache %s%s: %w", s, key, registry.ErrNotFound)
		}
		return nil, cache.Info{}, fmt.Errorf("s3 cache %s%s: %w", s, key, err)
	}
	info := cache.Info{Size: -1, Meta: out.Metadata}
	if out.ContentLength != nil {
		info.Size = *out.ContentLength
	}
	return out.Body, info, nil
}

// Create writes an object unless the key exists.
func (s *Store) Create(ctx context.Context, key string, body io.Reader, size int64, meta map[string]string) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key),
		Body: body, ContentLength: aws.Int64(size), Metadata: meta,
		IfNoneMatch: aws.String("*"),
	})
	var ae smithy.APIError
	switch {
	case err == nil:
		return nil
	// 412: it exists; 409: a concurrent conditional write of the key is
	// in progress (S3 says ConditionalRequestConflict): someone else has it.
	case errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict"):
		return fmt.Errorf("s3 cache %s%s: %w", s, key, cache.ErrExists)
	default:
		return fmt.Errorf("s3 cache %s%s: write: %w", s, key, err)
	}
}

// Put writes an object.
func (s *Store) Put(ctx context.Context, key string, body []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key), Body: bytes.NewReader(body),
	})
	if err != nil {
		return fmt.Errorf("s3 cache %s%s: write: %w", s, key, err)
	}
	return nil
}

// Delete removes an object (S3 answers a missing key with success).
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil {
		return fmt.Errorf("s3 cache %s%s: delete: %w", s, key, err)
	}
	return nil
}
