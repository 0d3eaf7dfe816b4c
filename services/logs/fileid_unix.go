//go:build unix

package logs

import (
	"os"
	"syscall"
)

// fileID identifies a file across renames and across processes.
type fileID struct{ dev, ino uint64 }

func idOf(info os.FileInfo) fileID {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fileID{dev: uint64(st.Dev), ino: st.Ino} //nolint:unconvert // Dev is not uint64 everywhere
	}
	return fileID{}
}
