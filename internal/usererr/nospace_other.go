//go:build !windows

package usererr

import (
	"errors"
	"syscall"
)

func isNoSpaceErrno(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
