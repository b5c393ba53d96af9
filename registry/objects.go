package registry

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"
)

// Object stores (s3, gs) and the file registry share one layout:
// <prefix><version>/<file>, reports in <prefix><version>/.dewy/.

// Grouper builds releases from the keys of a listing under a prefix.
type Grouper struct {
	prefix    string
	byVersion map[string]*Release
	order     []string
}

// NewGrouper groups keys under prefix ("" or ending in '/').
func NewGrouper(prefix string) *Grouper {
	return &Grouper{prefix: prefix, byVersion: map[string]*Release{}}
}

// Add takes one key of the listing: <prefix><version>/<file> counts, a
// deeper key or a hidden name (a report, an upload in progress) does not.
// A release's Created is its oldest file's.
func (g *Grouper) Add(key string, created time.Time) {
	version, file, ok := strings.Cut(strings.TrimPrefix(key, g.prefix), "/")
	if !ok || version == "" || file == "" || strings.Contains(file, "/") || strings.HasPrefix(version, ".") || strings.HasPrefix(file, ".") {
		return
	}
	rel := g.byVersion[version]
	if rel == nil {
		rel = &Release{Version: version}
		g.byVersion[version] = rel
		g.order = append(g.order, version)
	}
	rel.Files = append(rel.Files, file)
	if rel.Created.IsZero() || created.Before(rel.Created) {
		rel.Created = created
	}
}

// Releases returns the releases, in the order first seen.
func (g *Grouper) Releases() []Release {
	out := make([]Release, 0, len(g.order))
	for _, v := range g.order {
		out = append(out, *g.byVersion[v])
	}
	return out
}

// ObjectKey is the key of a release's file, refusing names that would
// leave the release: a '/', "..", a NUL.
func ObjectKey(prefix, version, file string) (string, error) {
	if version == "" || file == "" || strings.ContainsAny(version+file, "/\x00") || version == ".." || file == ".." || version == "." {
		return "", fmt.Errorf("%q/%q is not a file of a release", version, file)
	}
	return prefix + path.Join(version, file), nil
}

// ReportName is the name of a report's file in <version>/.dewy/.
func (r Report) ReportName() string {
	return strings.NewReplacer("/", "_", "\x00", "_").Replace(r.Host+"_"+r.App) + ".json"
}

// JSON is the report as written next to the release.
func (r Report) JSON() []byte {
	body := struct {
		App      string    `json:"app"`
		Version  string    `json:"version"`
		Host     string    `json:"host"`
		DeployID string    `json:"deploy_id"`
		Error    string    `json:"error,omitempty"`
		At       time.Time `json:"at"`
	}{r.App, r.Version, r.Host, r.DeployID, "", r.At}
	if r.Err != nil {
		body.Error = r.Err.Error()
	}
	b, _ := json.MarshalIndent(body, "", "  ")
	return append(b, '\n')
}
