/* cliconf.h - --print-config for attestd and attest-verifier serve: one
 * "key = value" line per setting in the configuration file format
 * (libattest/core/conf.h), so the output is itself a valid file. */
#ifndef ATTEST_CLICONF_H
#define ATTEST_CLICONF_H

#include <stdio.h>

/* Print key = value, quoted when the value needs it. value NULL: the
 * setting is unset, printed as a comment (with def, the default it takes,
 * if not NULL). A value the format cannot hold (a '"', a tab, a control
 * byte, non-ASCII) is printed as a comment saying so. */
void cliconf_print(FILE *f, const char *key, const char *value, const char *def);

#endif
