//go:build windows

package chatstore

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// fileIdentity names the file at path (not its content): its volume and
// file index, which a rename over it or a copy in its place changes.
func fileIdentity(path string) (string, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return "", err
	}
	h, err := windows.CreateFile(p, 0, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return "", err
	}
	defer windows.CloseHandle(h)
	var fi windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &fi); err != nil {
		return "", err
	}
	return fmt.Sprintf("w:%x:%x:%x", fi.VolumeSerialNumber, fi.FileIndexHigh, fi.FileIndexLow), nil
}
