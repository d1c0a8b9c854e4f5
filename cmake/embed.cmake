# Turn a file into a C array: cmake -DIN=file -DOUT=file.c -DNAME=sym -P embed.cmake
# (the status page is served from the binary: nothing is read at run time).
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," arr "${hex}")
file(WRITE "${OUT}" "/* generated from ${IN} by cmake/embed.cmake */\n"
     "const unsigned char ${NAME}[] = {${arr} 0x00};\n"
     "const unsigned long ${NAME}_len = sizeof ${NAME} - 1;\n")
