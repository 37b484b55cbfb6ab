# hist_version.cmake: writes the version header (cmake -P script, run at
# configure time and again at every build by the hist_version target).
# In: SRC (source dir), IN (the .h.in), OUT (the header), HIST_VERSION and,
# optionally, HIST_GIT_DESCRIBE_OVERRIDE (a tarball build without .git).
# configure_file() leaves OUT untouched when its text would not change, so
# a build after no commit recompiles nothing.
if(HIST_GIT_DESCRIBE_OVERRIDE)
  set(HIST_GIT_DESCRIBE "${HIST_GIT_DESCRIBE_OVERRIDE}")
else()
  set(HIST_GIT_DESCRIBE "unknown")
  find_program(HIST_GIT git)
  if(HIST_GIT AND EXISTS "${SRC}/.git")
    execute_process(COMMAND "${HIST_GIT}" -C "${SRC}" describe --always --dirty
                    OUTPUT_VARIABLE desc RESULT_VARIABLE rc
                    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(rc EQUAL 0 AND NOT desc STREQUAL "")
      set(HIST_GIT_DESCRIBE "${desc}")
    endif()
  endif()
endif()
configure_file("${IN}" "${OUT}" @ONLY)
