// The guest library: being written (issue 4).
