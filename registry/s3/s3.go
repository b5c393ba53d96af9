// Package s3 is the s3:// registry: releases under a prefix of a bucket,
// one "folder" per version, as the file registry lays them out:
//
//	s3://<region>/<bucket>/<prefix>/<version>/<artifact>
//
// Credentials come from the standard AWS_* variables, shared files and
// instance roles (the SDK's default chain). With ?endpoint= (an
// S3-compatible store: MinIO, versitygw, Ceph) requests use path-style
// addressing. A deploy is reported by writing a small JSON object,
// <prefix>/<version>/.dewy/<host>_<app>.json.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/dewyhq/dewy/registry"
)

// Registry reads one prefix of one bucket.
type Registry struct {
	client *s3.Client
	bucket string
	prefix string // "" or "a/b/" (with the trailing slash)
}

var _ registry.Registry = (*Registry)(nil)

// New returns the registry of u, s3://<region>/<bucket>/<prefix>[?endpoint=URL].
func New(ctx context.Context, u *url.URL) (*Registry, error) {
	c, bucket, prefix, err := open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("s3 registry: %w", err)
	}
	return &Registry{client: c, bucket: bucket, prefix: prefix}, nil
}

// open makes the client of s3://<region>/<bucket>/<prefix>[?endpoint=URL]
// and splits the URL; prefix is "" or ends in '/'.
func open(ctx context.Context, u *url.URL) (c *s3.Client, bucket, prefix string, err error) {
	region := u.Host
	parts := strings.SplitN(strings.Trim(u.Path, "/"), "/", 2)
	if region == "" || parts[0] == "" {
		return nil, "", "", fmt.Errorf("%q: want s3://<region>/<bucket>/<prefix>", u.Redacted())
	}
	bucket = parts[0]
	if len(parts) == 2 && parts[1] != "" {
		prefix = strings.Trim(parts[1], "/") + "/"
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return nil, "", "", fmt.Errorf("AWS configuration: %w", err)
	}
	endpoint := u.Query().Get("endpoint")
	c = s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
	})
	return c, bucket, prefix, nil
}

// Releases lists the objects under the prefix (one paginated listing)
// and groups them by version (registry.Grouper).
func (r *Registry) Releases(ctx context.Context) ([]registry.Release, error) {
	g := registry.NewGrouper(r.prefix)
	p := s3.NewListObjectsV2Paginator(r.client, &s3.ListObjectsV2Input{Bucket: aws.String(r.bucket), Prefix: aws.String(r.prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3 registry %s/%s: list: %w", r.bucket, r.prefix, err)
		}
		for _, obj := range page.Contents {
			g.Add(aws.ToString(obj.Key), aws.ToTime(obj.LastModified))
		}
	}
	return g.Releases(), nil
}

func (r *Registry) key(version, file string) (string, error) {
	k, err := registry.ObjectKey(r.prefix, version, file)
	if err != nil {
		return "", fmt.Errorf("s3 registry: %w", err)
	}
	return k, nil
}

// Open streams one object.
func (r *Registry) Open(ctx context.Context, version, file string) (io.ReadCloser, int64, error) {
	key, err := r.key(version, file)
	if err != nil {
		return nil, 0, err
	}
	out, err := r.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(key)})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil, 0, fmt.Errorf("s3 registry %s/%s: %w", r.bucket, key, registry.ErrNotFound)
		}
		return nil, 0, fmt.Errorf("s3 registry %s/%s: %w", r.bucket, key, err)
	}
	size := int64(-1)
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	return out.Body, size, nil
}

// Report writes <prefix>/<version>/.dewy/<host>_<app>.json.
func (r *Registry) Report(ctx context.Context, rep registry.Report) error {
	key, err := r.key(rep.Version, ".dewy")
	if err != nil {
		return err
	}
	_, err = r.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(r.bucket), Key: aws.String(key + "/" + rep.ReportName()),
		Body: bytes.NewReader(rep.JSON()), ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("s3 registry report: %w", err)
	}
	return nil
}
