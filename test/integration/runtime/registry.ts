// Moved to test/support so the end-to-end suites share it.
export * from '../../support/registry';
