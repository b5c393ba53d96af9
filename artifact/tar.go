package artifact

import (
	"archive/tar"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/ulikunitz/xz"
)

// maxTrailing is how much data may follow the end of a compressed tar
// archive (record padding is at most a few KiB); reading it to the end is
// what makes the decompressor check the stream's trailer and CRC.
const maxTrailing = 1 << 20

func (x *extractor) untar(src io.Reader, format Format) error {
	var dec io.Reader
	switch format {
	case Tar:
		dec = src
	case TarGz:
		zr, err := gzip.NewReader(src)
		if err != nil {
			return fmt.Errorf("gzip header: %v: %w", err, ErrCorrupt)
		}
		defer zr.Close()
		dec = zr
	case TarXz:
		xr, err := xz.NewReader(src)
		if err != nil {
			return fmt.Errorf("%v: %w", err, ErrCorrupt)
		}
		dec = xr
	case TarBz2:
		dec = bzip2.NewReader(src)
	default:
		return fmt.Errorf("untar: unexpected format %v", format)
	}
	tail := &zeroTail{r: dec}
	tr := tar.NewReader(tail)
	last := "" // the last entry read, for errors between entries
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			// With GODEBUG=tarinsecurepath=0 Next reports insecure names;
			// cleanName refuses them below with the entry's name.
			if last == "" {
				return fmt.Errorf("read first entry: %v: %w", err, ErrCorrupt)
			}
			return fmt.Errorf("read entry after %q: %v: %w", last, err, ErrCorrupt)
		}
		last = hdr.Name
		if err := x.tarEntry(tr, hdr); err != nil {
			return err
		}
	}
	// tar.Reader also stops at a clean end of input; only the end-of-archive
	// marker (two zero blocks) shows the archive is whole.
	if tail.zeros < 2*512 {
		return fmt.Errorf("archive ends without the end-of-archive marker (truncated?): %w", ErrCorrupt)
	}
	if format != Tar {
		n, err := io.CopyBuffer(io.Discard, io.LimitReader(dec, maxTrailing+1), x.buf)
		if err != nil {
			return fmt.Errorf("after the end of the archive: %v: %w", err, ErrCorrupt)
		}
		if n > maxTrailing {
			return fmt.Errorf("more than %d bytes after the end of the archive: %w", maxTrailing, ErrCorrupt)
		}
	}
	return nil
}

func (x *extractor) tarEntry(tr *tar.Reader, hdr *tar.Header) error {
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.create(hdr.Name, kindDir, 0, "", nil)
	case tar.TypeReg, tar.TypeGNUSparse:
		// Sparse files are expanded by tar.Reader; their holes count as
		// bytes written.
		return x.create(hdr.Name, kindFile, fs.FileMode(hdr.Mode).Perm(), "", tr)
	case tar.TypeSymlink:
		return x.create(hdr.Name, kindSymlink, 0, hdr.Linkname, nil)
	case tar.TypeLink:
		return x.create(hdr.Name, kindHardlink, 0, hdr.Linkname, nil)
	case tar.TypeXGlobalHeader:
		return nil // metadata only
	case tar.TypeChar, tar.TypeBlock:
		return entryErr(hdr.Name, ErrUnsafe, "device entries are not allowed")
	case tar.TypeFifo:
		return entryErr(hdr.Name, ErrUnsafe, "fifo entries are not allowed")
	default:
		return entryErr(hdr.Name, ErrUnsafe, "unsupported entry type %q", hdr.Typeflag)
	}
}

// zeroTail passes reads through and counts the zero bytes at the end of what
// it has read so far.
type zeroTail struct {
	r     io.Reader
	zeros int
}

func (z *zeroTail) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	i := n
	for i > 0 && p[i-1] == 0 {
		i--
	}
	if i == 0 {
		z.zeros += n
	} else {
		z.zeros = n - i
	}
	return n, err
}
