package grpc

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The messages of the dewy registry protocol (package dewy, service
// RegistryService), encoded by hand with protowire: three small messages
// do not earn a code generator in the build. Field numbers and types are
// the protocol's:
//
//	CurrentRequest  { string arch = 1; string os = 2; optional string arifact_name = 3; }
//	CurrentResponse { string id = 1; string tag = 2; string artifact_url = 3; }
//	ReportRequest   { string id = 1; string tag = 2; optional string err = 3; }
//	google.protobuf.Empty {}

// message is what the codec moves.
type message interface {
	marshal() []byte
	unmarshal([]byte) error
}

// CurrentRequest asks for the artifact to deploy on this OS and arch.
type CurrentRequest struct {
	Arch, OS string
	// ArtifactName, when set, names the artifact (the protocol spells the
	// field arifact_name).
	ArtifactName *string
}

// CurrentResponse names the current release and where its artifact is.
type CurrentResponse struct {
	ID, Tag, ArtifactURL string
}

// ReportRequest reports a deploy of the release a CurrentResponse named.
type ReportRequest struct {
	ID, Tag string
	// Err is the deploy's error; nil for success.
	Err *string
}

// Empty is google.protobuf.Empty.
type Empty struct{}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func (m *CurrentRequest) marshal() []byte {
	var b []byte
	if m.Arch != "" {
		b = appendString(b, 1, m.Arch)
	}
	if m.OS != "" {
		b = appendString(b, 2, m.OS)
	}
	if m.ArtifactName != nil {
		b = appendString(b, 3, *m.ArtifactName)
	}
	return b
}

func (m *CurrentRequest) unmarshal(b []byte) error {
	return eachString(b, func(num protowire.Number, s string) {
		switch num {
		case 1:
			m.Arch = s
		case 2:
			m.OS = s
		case 3:
			m.ArtifactName = &s
		}
	})
}

func (m *CurrentResponse) marshal() []byte {
	var b []byte
	for _, f := range []struct {
		n protowire.Number
		s string
	}{{1, m.ID}, {2, m.Tag}, {3, m.ArtifactURL}} {
		if f.s != "" {
			b = appendString(b, f.n, f.s)
		}
	}
	return b
}

func (m *CurrentResponse) unmarshal(b []byte) error {
	return eachString(b, func(num protowire.Number, s string) {
		switch num {
		case 1:
			m.ID = s
		case 2:
			m.Tag = s
		case 3:
			m.ArtifactURL = s
		}
	})
}

func (m *ReportRequest) marshal() []byte {
	var b []byte
	if m.ID != "" {
		b = appendString(b, 1, m.ID)
	}
	if m.Tag != "" {
		b = appendString(b, 2, m.Tag)
	}
	if m.Err != nil {
		b = appendString(b, 3, *m.Err)
	}
	return b
}

func (m *ReportRequest) unmarshal(b []byte) error {
	return eachString(b, func(num protowire.Number, s string) {
		switch num {
		case 1:
			m.ID = s
		case 2:
			m.Tag = s
		case 3:
			m.Err = &s
		}
	})
}

func (*Empty) marshal() []byte { return nil }

func (*Empty) unmarshal(b []byte) error { return eachString(b, func(protowire.Number, string) {}) }

// eachString walks a message whose fields are all strings, calling fn for
// each; fields of other types (from a newer peer) are skipped, as protobuf
// requires.
func eachString(b []byte, fn func(protowire.Number, string)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("dewy registry message: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.BytesType {
			s, m := protowire.ConsumeString(b)
			if m < 0 {
				return fmt.Errorf("dewy registry message field %d: %w", num, protowire.ParseError(m))
			}
			fn(num, s)
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return fmt.Errorf("dewy registry message field %d: %w", num, protowire.ParseError(m))
		}
		b = b[m:]
	}
	return nil
}

// codec is gRPC's "proto" codec for these messages: the same content type
// and bytes as protoc-generated code, so either side may be generated.
type codec struct{}

func (codec) Name() string { return "proto" }

func (codec) Marshal(v any) ([]byte, error) {
	m, ok := v.(message)
	if !ok {
		return nil, fmt.Errorf("dewy registry codec: cannot marshal %T", v)
	}
	return m.marshal(), nil
}

func (codec) Unmarshal(data []byte, v any) error {
	m, ok := v.(message)
	if !ok {
		return fmt.Errorf("dewy registry codec: cannot unmarshal into %T", v)
	}
	return m.unmarshal(data)
}
