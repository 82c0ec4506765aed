print("sysgenidctl: not yet built (issue 4)")
