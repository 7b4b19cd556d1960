/* tests/support/fixture.c — filled in below. */
