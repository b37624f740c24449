# ctest script (cmake -P): the real vtr-replay on the golden cases of every method it has a runner for,
# checked by its own --compare and, when a Python with numpy was found at configure time, by
# tests/golden/compare.py — the check users run on their own dumps.
#   -DREPLAY=<vtr-replay>  -DCASES=<tests/golden>  -DWORK=<scratch dir>  [-DPYTHON=<python with numpy>]
foreach(var REPLAY CASES WORK)
  if(NOT ${var})
    message(FATAL_ERROR "replay_golden.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(COMMAND "${REPLAY}" --list-methods OUTPUT_VARIABLE methods RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "vtr-replay --list-methods failed (${rc})")
endif()
string(STRIP "${methods}" methods)
string(REPLACE "\n" ";" methods "${methods}")

# compare.py reports every method directory under its CASES root, so stage a root holding only the
# registered methods (symlinks to the golden directories).
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}/cases" "${WORK}/out")
set(staged 0)
foreach(m IN LISTS methods)
  if(IS_DIRECTORY "${CASES}/${m}")
    file(CREATE_LINK "${CASES}/${m}" "${WORK}/cases/${m}" SYMBOLIC)
    math(EXPR staged "${staged} + 1")
  else()
    message(WARNING "registered method ${m} has no golden cases in ${CASES}")
  endif()
endforeach()
if(staged EQUAL 0)
  message(FATAL_ERROR "no golden cases for the registered methods: ${methods}")
endif()

execute_process(COMMAND "${REPLAY}" --compare "${WORK}/cases" "${WORK}/out" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "vtr-replay --compare failed (exit ${rc})")
endif()

if(PYTHON)
  execute_process(COMMAND "${PYTHON}" "${CASES}/compare.py" "${WORK}/cases" "${WORK}/out" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "compare.py failed (exit ${rc})")
  endif()
else()
  message(STATUS "compare.py not run: no Python with numpy was found at configure time")
endif()
